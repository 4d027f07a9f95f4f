namespace Matomo.Rpc.Internal.Spool;

/// <summary>One encoded hit as the spool keeps it: what delivery needs to send it again, and nothing else.</summary>
/// <param name="Query">The query string, starting with '?', with <c>cdt</c> already stamped (never the token).</param>
/// <param name="Timestamp">When the call ended (the hit's <c>cdt</c>), for the 24-hour rule of tokenless clients.</param>
/// <param name="VisitorKey">What tells callers apart (e.g. the visitor id), for keeping each caller's hits in order; may be empty.</param>
/// <param name="Action">The action, for log lines about this hit; may be empty.</param>
/// <param name="Isolated">Sent alone (Crash Analytics hits), so that Matomo's 500 cannot roll back other hits.</param>
internal readonly record struct SpooledHit(string Query, DateTimeOffset Timestamp, string VisitorKey = "", string Action = "", bool Isolated = false);
