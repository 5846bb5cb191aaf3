// The server's answers as text for the page's status line.

export const MB = 2 ** 20;

export function mb(bytes) {
  const v = bytes / MB;
  return v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2);
}

// FastAPI's `detail` is a string for odinpaint's own errors and a list of objects for its
// request validation errors ({loc, msg, type}): both become one line of text.
export function detailText(detail) {
  if (detail == null) return "";
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map(detailText).filter(Boolean).join("; ");
  if (typeof detail === "object") {
    if (typeof detail.msg === "string") {
      const where = Array.isArray(detail.loc) ? detail.loc.filter((p) => p !== "body").join(".") : "";
      return where ? `${where}: ${detail.msg}` : detail.msg;
    }
    if ("detail" in detail) return detailText(detail.detail);
    return JSON.stringify(detail);
  }
  return String(detail);
}

// The text of an error answer: its JSON detail, or else its body without markup.
export async function errorText(res) {
  const body = await res.text().catch(() => "");
  try {
    const text = detailText(JSON.parse(body).detail);
    if (text) return text;
  } catch (e) { /* not JSON: use the text itself */ }
  const plain = body.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
  return plain ? plain.slice(0, 300) : (res.statusText || "no details");
}
