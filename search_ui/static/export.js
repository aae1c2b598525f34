// Exports and saved cohorts from the page. POST /api/v1/export streams every matching series
// (no cap) from one index generation; the page saves the answer as a file. Formats without
// room for citations (CSV, TSV, Gen3, TCIA, DICOMweb) come as a zip with CITATION.md when
// "with citations" is ticked; JSONL and s5cmd carry them inside.
import { ApiError } from "./api.js";
import { countBody } from "./state.js";

export const FORMATS = {
  csv: "CSV: one row per series (sex, age, study date, body part, links)",
  tsv: "Tab-separated: one row per series",
  jsonl: "JSON lines: one object per series, then how to cite them",
  s5cmd: "s5cmd run file: one 'cp s3://…' line per series held in IDC's buckets",
  gen3: "Gen3 manifest.json (object GUIDs) for gen3-client or gen3sdk",
  tcia: "TCIA manifest (.tcia) for the NBIA Data Retriever",
  dicomweb: "DICOMweb: study and series UIDs with their WADO-RS URLs",
};
export const CARRIES_CITATIONS = new Set(["jsonl", "s5cmd"]);

/** POST /api/v1/export body for a state (series of the search, whatever level is shown). */
export function exportBody(state, format, withCitations) {
  return { ...countBody(state), format, bundle: withCitations && !CARRIES_CITATIONS.has(format) };
}

/** POST /api/v1/cohorts body for a state. */
export function cohortBody(state, name) {
  return { ...countBody(state), name };
}

/** The file name the server proposes (Content-Disposition), or a fallback. */
export function fileName(disposition, fallback) {
  const m = /filename="([^"]+)"/.exec(disposition || "");
  return m ? m[1] : fallback;
}

/** Run an export; resolves to { blob, name, generation, matched }. Throws ApiError. */
export async function fetchExport(body, fetchImpl = fetch) {
  let r;
  try {
    r = await fetchImpl("/api/v1/export", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, `Cannot reach the imaging-hub server at ${location.origin} (${e.message}).`);
  }
  if (!r.ok) {
    let data = null;
    try { data = await r.json(); } catch { /* not JSON */ }
    throw new ApiError(r.status, data?.message || `the server answered HTTP ${r.status}`, data?.details || []);
  }
  let blob;
  try {
    blob = await r.blob();
  } catch (e) {  // the body broke off: the server stopped while streaming
    throw new ApiError(0, `The export stopped before its end (${e.message}). Start it again.`);
  }
  return { blob, name: fileName(r.headers.get("content-disposition"), `imaging-hub.${body.format}`),
    generation: r.headers.get("x-index-generation"), matched: Number(r.headers.get("x-series-matched")) };
}

export function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
