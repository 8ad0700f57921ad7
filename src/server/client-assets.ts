// The browser client, bundled once at start and served from memory: only these exact paths exist,
// so no request can reach the file system (no traversal), and every response gets our headers.
import clientPage from "../../client/index.html";

export interface Asset {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
  etag: string;
  /** Hashed chunks never change under their name; the page itself is always revalidated. */
  immutable: boolean;
}

const basename = (path: string) => path.slice(path.lastIndexOf("/") + 1);

/**
 * URL path → asset. A compiled executable carries the bundle already (`files`); `bun run` bundles
 * the page here (~50 ms).
 */
export async function loadClientAssets(): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  const files = (clientPage as { files?: { path: string; loader: string; headers: Record<string, string> }[] }).files;
  if (files) {
    for (const f of files) {
      const asset = {
        body: await Bun.file(f.path).bytes(),
        contentType: f.headers["content-type"] ?? "application/octet-stream",
        etag: f.headers.etag ?? "",
        immutable: f.loader !== "html",
      };
      assets.set(f.loader === "html" ? "/" : `/${basename(f.path)}`, asset);
    }
  } else {
    const built = await Bun.build({ entrypoints: [clientPage.index], minify: true });
    if (!built.success) throw new Error(`bundling the client failed: ${built.logs.join("\n")}`);
    for (const out of built.outputs) {
      const html = out.type.startsWith("text/html");
      assets.set(html ? "/" : `/${basename(out.path)}`, {
        body: new Uint8Array(await out.arrayBuffer()),
        contentType: out.type,
        etag: out.hash ?? "",
        immutable: !html,
      });
    }
  }
  const page = assets.get("/");
  if (!page) throw new Error("the client bundle has no page");
  page.body = relativeAssetLinks(page.body, [...assets.keys()]);
  return assets;
}

/**
 * The page names its chunks `./chunk-….js`, never `/chunk-….js` (a compiled executable's bundle does):
 * behind a proxy that serves a stream under a path prefix, a root-relative link would miss it.
 */
function relativeAssetLinks(html: Uint8Array<ArrayBuffer>, paths: string[]): Uint8Array<ArrayBuffer> {
  let text = new TextDecoder().decode(html);
  for (const path of paths) if (path !== "/") text = text.replaceAll(`="${path}"`, `=".${path}"`);
  return new TextEncoder().encode(text);
}

export function assetResponse(asset: Asset, req: Request, headers: Record<string, string>): Response {
  const etag = `"${asset.etag}"`;
  const common = {
    ...headers,
    ETag: etag,
    "Cache-Control": asset.immutable ? "public, max-age=31536000, immutable" : "no-cache",
  };
  if (req.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers: common });
  return new Response(asset.body, { headers: { ...common, "Content-Type": asset.contentType } });
}
