using System.Text;

namespace Matomo.Rpc;

/// <summary>The result of checking the Matomo side: reachability, version, site, token rights, dimensions, plugins.</summary>
public sealed class MatomoCheckReport
{
    internal MatomoCheckReport(string endpoint, string? matomoVersion, IReadOnlyList<MatomoCheckFinding> findings, DateTimeOffset checkedAt)
    {
        Endpoint = endpoint;
        MatomoVersion = matomoVersion;
        Findings = findings;
        CheckedAt = checkedAt;
    }

    /// <summary>The tracking endpoint checked (without credentials).</summary>
    public string Endpoint { get; }

    /// <summary>Matomo's version, when the token could read it.</summary>
    public string? MatomoVersion { get; }

    /// <summary>Every finding, in the order checked.</summary>
    public IReadOnlyList<MatomoCheckFinding> Findings { get; }

    /// <summary>When the check ran.</summary>
    public DateTimeOffset CheckedAt { get; }

    /// <summary>True when any finding says Matomo will drop or misfile data.</summary>
    public bool LosesData => Findings.Any(f => f.Severity == MatomoCheckSeverity.DataLoss);

    /// <summary>The report as text, one finding per line.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append("Matomo check of ").Append(Endpoint);
        if (MatomoVersion is not null)
        {
            text.Append(" (Matomo ").Append(MatomoVersion).Append(')');
        }

        text.AppendLine(LosesData ? ": data will be lost" : ": nothing will be lost");
        foreach (var finding in Findings)
        {
            text.Append(finding.Severity switch
            {
                MatomoCheckSeverity.Ok => "  ok      ",
                MatomoCheckSeverity.Advice => "  advice  ",
                _ => "  LOSS    ",
            }).Append(finding.Message).AppendLine();
        }

        return text.ToString();
    }
}
