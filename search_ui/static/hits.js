// Hits at the four levels. Series are grouped collection → study → series; studies and
// subjects are grouped by collection; datasets are cards. Links are the API's, never rebuilt.
import { bytes, countText, countTitle, el, fmt } from "./render.js";
import { byMatches } from "./state.js";

/** Render `hits` (all loaded pages) of `level` into `root`. `facets` gives the matches per
 * collection, in the level's unit, for the group headings; `byCollection` (the cohort
 * count's) the matching subjects, studies and series of each dataset card, which are sorted
 * by them; `drill(filters, level)` opens a linked level. Without hits, the API's
 * `suggestions` (facet values holding the text's words) are offered: `onSuggest(field,
 * value)` filters by one instead of the text. */
export function renderHits(root, level, hits, facets, drill, { byCollection = {}, suggestions = [],
  onSuggest = null } = {}) {
  if (!hits.length) {
    root.replaceChildren(el("p", { class: "empty" },
      "No matches. Remove a filter (the × on the chips above) or try fewer words."),
    suggestions.length ? el("div", { class: "suggestions" },
      el("p", {}, "No description has these words, but these filter values do:"),
      el("ul", {}, suggestions.map((s) => el("li", {}, el("button", { type: "button", class: "linkish",
        dataset: { field: s.field, value: s.value, count: s.count },
        onclick: () => onSuggest?.(s.field, s.value) }, s.value),
      el("span", { class: "muted" }, ` — ${s.label}, ${fmt(s.count)} series`))))) : null);
    return;
  }
  const perCollection = new Map((facets.collection || []).map((b) => [String(b.value), b]));
  if (level === "collection") {
    const rank = new Map(byMatches(byCollection).map(([id], i) => [id, i]));
    const order = (h) => rank.get(h.collection) ?? Infinity;
    const cards = [...hits].sort((a, b) => order(a) - order(b));  // stable: API order for ties
    root.replaceChildren(el("p", { class: "muted small" }, "Datasets with the most matching subjects first."),
      el("ul", { class: "cards" }, cards.map((h) => collectionCard(h, drill, byCollection[h.collection]))));
    return;
  }
  const groups = runs(hits, (h) => (level === "subject" ? h.collections[0] : h.collection));
  root.replaceChildren(...groups.map(([collection, items]) => {
    const n = perCollection.get(collection);
    const head = el("h3", { class: "group-h" },
      el("span", { class: "coll" }, collection),
      n === undefined ? null : el("span", { class: "muted", title: countTitle(n) }, ` · ${countText(n)} matching ${UNIT[level]}`),
      el("button", { type: "button", class: "linkish small", "aria-label": `about the dataset ${collection}`,
        onclick: () => drill({ collection: [collection] }, "collection") },
        "about this dataset"));
    let body;
    if (level === "series") body = runs(items, (h) => h.identifiers.study_uid).map(([, s]) => studyGroup(s));
    else if (level === "study") body = [el("ul", { class: "rows" }, items.map((h) => studyRow(h, drill)))];
    else body = [el("ul", { class: "rows" }, items.map((h) => subjectRow(h, drill)))];
    return el("section", { class: "group", dataset: { collection } }, head, ...body);
  }));
}

const UNIT = { series: "series", study: "studies", subject: "subjects" };

/** Consecutive runs of equal keys, in order: [[key, [items]], ...]. The API returns series in
 * collection/study order, so runs are whole groups unless a sort is chosen. */
function runs(items, key) {
  const out = [];
  for (const item of items) {
    const k = key(item);
    if (out.length && out[out.length - 1][0] === k) out[out.length - 1][1].push(item);
    else out.push([k, [item]]);
  }
  return out;
}

function studyGroup(series) {
  const first = series[0];
  const who = [first.subject_id, first.sex, first.age === null ? null : `${first.age} y`].filter(Boolean).join(" · ");
  return el("article", { class: "study", dataset: { studyUid: first.identifiers.study_uid } },
    el("h4", {}, el("span", {}, first.study_date || "date unknown"), " · ",
      first.study_description || el("i", {}, "no study description"),
      el("span", { class: "muted" }, ` · subject ${who}`)),
    el("ul", { class: "series-list" }, series.map(seriesRow)));
}

function seriesRow(h) {
  const web = h.links.filter((l) => /^https?:/.test(l.href));
  const ids = h.links.filter((l) => !/^https?:/.test(l.href));
  const facts = [h.body_part, `${fmt(h.instances)} instances`, bytes(h.size_bytes), h.manufacturer]
    .filter(Boolean).join(" · ");
  return el("li", { class: "hit series", dataset: { id: h.id } },
    el("div", { class: "line" },
      el("span", { class: "badge mod" }, h.modality || "?"),
      el("strong", {}, h.series_description || "(no series description)"),
      el("span", { class: "muted" }, ` · ${facts}`)),
    el("div", { class: "line" }, badges(h.access, h.hosts), linkList(web),
      el("details", {}, el("summary", {}, "identifiers, download"),
      el("dl", { class: "ids" },
        idRow("StudyInstanceUID", h.identifiers.study_uid),
        idRow("SeriesInstanceUID", h.identifiers.series_uid),
        h.identifiers.crdc_series_uuid && idRow("CRDC series UUID", h.identifiers.crdc_series_uuid),
        ids.map((l) => idRow(l.title || l.rel, l.href, l)),
        idRow("Provenance", `${h.provenance.source_version}, harvested ${h.provenance.harvested_at.slice(0, 10)}`)))));
}

function studyRow(h, drill) {
  return el("li", { class: "hit study", dataset: { id: h.id } },
    el("div", { class: "line" },
      ...h.modalities.map((m) => el("span", { class: "badge mod" }, m)),
      el("strong", {}, h.study_description || "(no study description)"),
      el("span", { class: "muted" }, ` · ${h.study_date || "date unknown"} · subject ${h.subject_id} · `
        + `${fmt(h.series)} series · ${fmt(h.instances)} instances`)),
    el("div", { class: "line" }, hostBadge(h.hosts), linkList(h.links),
      el("button", { type: "button", class: "drill", "aria-label": `${fmt(h.series)} series of study ${h.study_description || h.study_uid}`,
        onclick: () => drill({ study_uid: [h.study_uid] }, "series") },
        `${fmt(h.series)} series ›`)));
}

function subjectRow(h, drill) {
  const age = h.age_min === null ? "age unknown"
    : h.age_min === h.age_max ? `${h.age_min} y` : `${h.age_min}–${h.age_max} y`;
  return el("li", { class: "hit subject", dataset: { id: h.id } },
    el("div", { class: "line" },
      el("strong", {}, h.subject_id),
      el("span", { class: "muted" }, ` · ${h.sex || "sex unknown"} · ${age} · ${h.collections.join(", ")} · ${h.source}`),
      ...h.modalities.map((m) => el("span", { class: "badge mod" }, m)),
      el("button", { type: "button", class: "drill", "aria-label": `studies of subject ${h.subject_id}`,
        onclick: () => drill({ subject_id: [h.subject_id], source: [h.source] }, "study") },
      `${fmt(h.studies)} ${h.studies === 1 ? "study" : "studies"} ›`),
      el("button", { type: "button", class: "drill", "aria-label": `series of subject ${h.subject_id}`,
        onclick: () => drill({ subject_id: [h.subject_id], source: [h.source] }, "series") },
      `${fmt(h.series)} series ›`)));
}

/** "12 matching subjects · 30 studies · 410 series" of a dataset (its by_collection block). */
function matches(block, h) {
  if (!block) return [el("strong", {}, `${fmt(h.series)} matching series`)];
  const part = (k, one, many) => el("span", { class: "m", dataset: { count: k, value: block[k].count ?? "" },
    title: countTitle(block[k]) }, `${countText(block[k])} ${block[k].count === 1 ? one : many}`);
  return [el("strong", {}, part("subjects", "matching subject", "matching subjects"), " · ",
    part("studies", "study", "studies"), " · ", part("series", "series", "series"))];
}

function collectionCard(h, drill, block) {
  const desc = (h.description || "").trim();
  const short = desc.length > 280 ? `${desc.slice(0, 280).replace(/\s+\S*$/, "")}…` : desc;
  const tags = (label, values) => (values?.length
    ? el("div", { class: "line small" }, el("span", { class: "muted" }, `${label}: `), values.join(", ")) : null);
  return el("li", { class: "hit card collection", dataset: { id: h.id } },
    el("h3", {}, h.name || h.collection, el("span", { class: "muted small" }, ` ${h.collection} · ${h.source}`)),
    el("div", { class: "line matches" }, ...matches(block, h),
      el("span", { class: "muted" }, ` · of ${fmt(h.subjects)} subjects in the dataset`)),
    tags("Disease", h.disease_type), tags("Primary site", h.primary_site), tags("Species", h.species),
    short ? el("p", { class: "desc" }, short) : null,
    desc.length > short.length || h.citation ? el("details", {}, el("summary", {}, "Description and citation"),
      el("p", { class: "desc" }, desc), h.citation ? el("p", { class: "small" }, el("b", {}, "Cite: "), h.citation) : null) : null,
    el("div", { class: "line" }, badges(h.access, [h.source]), linkList(h.links),
      el("button", { type: "button", class: "drill", "aria-label": `subjects of ${h.collection}`,
        onclick: () => drill({ collection: [h.collection] }, "subject") }, "Subjects ›"),
      el("button", { type: "button", class: "drill", "aria-label": `${fmt(h.series)} series of ${h.collection}`,
        onclick: () => drill({ collection: [h.collection] }, "series") },
        `${fmt(h.series)} series ›`)));
}

function badges(access, hosts) {
  const lic = access.license || "licence unknown";
  return [
    /^https?:\/\//.test(access.license_url || "")  // only web links: URLs come from sources
      ? el("a", { class: "badge lic", href: access.license_url, target: "_blank", rel: "noopener",
        title: `Licence: ${lic}` }, lic)
      : el("span", { class: "badge lic", title: "Licence" }, lic),
    access.commercial_use === false ? el("span", { class: "badge warn" }, "non-commercial") : null,
    el("span", { class: `badge tier tier-${access.tier}`, title: "Access tier" }, access.tier),
    hostBadge(hosts),
  ];
}

function hostBadge(hosts) {
  const n = hosts?.length || 0;
  return el("span", { class: "badge hosts", title: `Hosted at: ${(hosts || []).join(", ")}`, dataset: { hosts: n } },
    `available at ${n} ${n === 1 ? "host" : "hosts"}`);
}

function linkList(links) {
  return el("span", { class: "links" }, links.map((l) => el("a", {
    href: l.href, target: "_blank", rel: "noopener", class: "link",
    dataset: { rel: l.rel, host: l.host } }, linkText(l))));
}

function linkText(l) {
  if (l.rel === "viewer") return `${l.title || "Viewer"} ↗`;
  if (l.rel === "doi") return `${l.title || "DOI"} ↗`;
  if (l.rel === "landing") return `${l.title || l.host} ↗`;
  return `${l.title || l.rel} ↗`;
}

/** A copyable identifier (DRS URIs and s3:// prefixes are not browser links). */
function idRow(name, value, link) {
  const code = el("code", link ? { dataset: { rel: link.rel, href: link.href } } : {}, value);
  return [el("dt", {}, name), el("dd", {}, code, el("button", {
    type: "button", class: "copy", "aria-label": `Copy ${name}`,
    onclick: (ev) => copy(value, ev.currentTarget) }, "copy"))];
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "copied";
  } catch {
    const range = document.createRange();
    range.selectNodeContents(button.previousSibling);
    getSelection().removeAllRanges(); getSelection().addRange(range);
    button.textContent = "selected — press Ctrl+C";
  }
  setTimeout(() => { button.textContent = "copy"; }, 2000);
}
