// The scripts and stylesheets a served client page references, with the content type each must have.

export interface AssetRef {
  ref: string;
  type: RegExp;
}

export function pageAssetRefs(html: string): AssetRef[] {
  return [
    ...[...html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/g)].map((m) => ({ ref: m[1]!, type: /javascript/ })),
    ...[...html.matchAll(/<link\b[^>]*\brel="stylesheet"[^>]*\bhref="([^"]+)"/g)].map((m) => ({ ref: m[1]!, type: /text\/css/ })),
  ];
}
