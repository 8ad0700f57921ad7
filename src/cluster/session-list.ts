// An edge's list of the live sessions it serves: GET / (a page of links) and GET /api/sessions (JSON).

export interface SessionEntry {
  name: string;
  width: number;
  height: number;
  device: string;
  /** Viewers of the whole session (the origin's and every edge's), as the origin last announced. */
  viewers: number;
  /** Viewers of it on this edge. */
  here: number;
  /** Where this edge serves it. */
  url: string;
  /** What this edge did with the session's frames (EdgeSessionCounters). */
  relay: Record<string, number>;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function sessionListPage(edge: string, sessions: readonly SessionEntry[]): Response {
  const rows = sessions.map(
    (s) =>
      `<tr><td><a href="${escapeHtml(s.url)}">${escapeHtml(s.name)}</a></td><td>${s.width}x${s.height}</td>` +
      `<td>${escapeHtml(s.device)}</td><td>${s.viewers}</td><td>${s.here}</td></tr>`,
  );
  const body = sessions.length === 0 ? "<p>No live session yet: start an origin with --nats and --session NAME.</p>" : [
    "<table><thead><tr><th>session</th><th>size</th><th>device</th><th>viewers</th><th>on this edge</th></tr></thead><tbody>",
    ...rows,
    "</tbody></table>",
  ].join("\n");
  const html = [
    "<!doctype html>",
    `<html lang="en"><head><meta charset="utf-8"><title>vkcast edge ${escapeHtml(edge)}</title></head><body>`,
    `<h1>vkcast sessions</h1>`,
    body,
    `<p>edge ${escapeHtml(edge)} · <a href="api/sessions">JSON</a></p>`,
    "</body></html>",
  ].join("\n");
  return new Response(html, { headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" } });
}

export function sessionListJson(edge: string, sessions: readonly SessionEntry[]): Response {
  return Response.json({ edge, sessions }, { headers: { "Cache-Control": "no-store" } });
}
