/** Names for downloaded exports: the server's filename when it sends one, else `<id>.<fmt>`. */
import type { ExportFormat } from "../api/types";

const SAFE = /[^A-Za-z0-9._-]/g;

/** Keep a file name to characters every OS accepts; never a path. */
export function safeFilename(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? "";
  const cleaned = base.replace(SAFE, "_").replace(/^\.+/, "");
  return cleaned === "" ? "download" : cleaned.slice(0, 200);
}

/** The filename in a Content-Disposition header (RFC 6266: filename* wins over filename). */
export function filenameFromDisposition(header: string | null): string | null {
  if (header === null) return null;
  const star = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(header);
  if (star !== null) {
    try {
      return safeFilename(decodeURIComponent(star[2].trim()));
    } catch {
      // fall through to the plain parameter
    }
  }
  const quoted = /filename\s*=\s*"((?:[^"\\]|\\.)*)"/i.exec(header);
  if (quoted !== null) return safeFilename(quoted[1].replace(/\\(.)/g, "$1"));
  const bare = /filename\s*=\s*([^;\s]+)/i.exec(header);
  if (bare !== null) return safeFilename(bare[1]);
  return null;
}

export function exportFilename(id: string, format: ExportFormat, disposition: string | null): string {
  return filenameFromDisposition(disposition) ?? safeFilename(`${id}.${format}`);
}
