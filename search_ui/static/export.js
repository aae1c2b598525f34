// Series manifest export in the browser: pages through POST /api/v1/search with the `next`
// tokens (1,000 series a request) up to EXPORT_CAP series, then offers CSV, JSON or an s5cmd
// run file. The API itself has no cap: page with `next` for more.
import { searchBody } from "./state.js";

export const EXPORT_CAP = 10000;
const PAGE = 1000;
export const COLUMNS = ["id", "source", "collection", "subject_id", "sex", "age", "age_raw",
  "study_uid", "study_date", "study_description", "series_uid", "modality", "body_part",
  "series_description", "manufacturer", "instances", "size_bytes", "doi", "drs_uri", "s3_url",
  "viewer_url", "license", "access", "commercial_use", "hosts", "links"];

/** One manifest row per series hit. `links` keeps every link the API gave (with its host);
 * the CSV writes them as "host rel href" separated by " | ". */
export function manifestRow(h) {
  const link = (rel) => h.links.find((l) => l.rel === rel)?.href ?? "";
  return {
    id: h.id, source: h.source, collection: h.collection, subject_id: h.subject_id,
    sex: h.sex ?? "", age: h.age ?? "", age_raw: h.age_raw ?? "",
    study_uid: h.identifiers.study_uid, study_date: h.study_date ?? "",
    study_description: h.study_description ?? "", series_uid: h.identifiers.series_uid,
    modality: h.modality ?? "", body_part: h.body_part ?? "",
    series_description: h.series_description ?? "", manufacturer: h.manufacturer ?? "",
    instances: h.instances, size_bytes: h.size_bytes, doi: h.identifiers.doi ?? "",
    drs_uri: h.identifiers.drs_uri ?? "", s3_url: link("download"), viewer_url: link("viewer"),
    license: h.access.license ?? "", access: h.access.tier,
    commercial_use: h.access.commercial_use ?? "", hosts: (h.hosts || []).join(" "),
    links: h.links.map((l) => ({ host: l.host, rel: l.rel, href: l.href })),
  };
}

const linkText = (links) => links.map((l) => `${l.host} ${l.rel} ${l.href}`).join(" | ");

/** Fetch up to EXPORT_CAP series of `state` (series level whatever the level shown).
 * `api(path, body)` is the page's fetch wrapper; `progress(done, total)` reports. */
export async function collect(state, api, progress) {
  const rows = [];
  let after = null, total = 0, index = null;
  do {
    const size = Math.min(PAGE, EXPORT_CAP - rows.length);
    const res = await api("/api/v1/search", searchBody(state, { facets: [], counts: false,
      size, after, level: "series" }));
    total = res.total.count; index = res.index;
    rows.push(...res.hits.map(manifestRow));
    after = res.next;
    progress(rows.length, total);
  } while (after && rows.length < EXPORT_CAP);
  return { rows, total, index, truncated: rows.length < total };
}

export function toCsv(rows) {
  const cell = (v) => {
    const s = Array.isArray(v) ? linkText(v) : String(v ?? "");
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [COLUMNS.join(","), ...rows.map((r) => COLUMNS.map((c) => cell(r[c])).join(","))].join("\r\n") + "\r\n";
}

export function toJson(result, query) {
  return JSON.stringify({
    exported_at: new Date().toISOString(), index: result.index, query,
    total: result.total, exported: result.rows.length, truncated: result.truncated,
    cap: EXPORT_CAP, series: result.rows,
  }, null, 1);
}

/** s5cmd run file (`s5cmd --no-sign-request --endpoint-url https://s3.amazonaws.com run FILE`):
 * one copy per series into a folder named after the series UID. */
export function toS5cmd(rows) {
  return rows.filter((r) => r.s3_url)
    .map((r) => `cp ${r.s3_url} ./${r.collection}/${r.series_uid}/`).join("\n") + "\n";
}

export function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
