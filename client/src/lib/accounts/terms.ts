export type TermsBlock =
  { kind: "heading"; text: string } | { kind: "paragraph"; text: string } | { kind: "list"; items: string[] };

// "1. Scope", "12. Limitation of Liability": short numbered lines without closing punctuation.
const HEADING = /^\d{1,3}\.\s+\S/;

function isHeading(line: string): boolean {
  return HEADING.test(line) && line.length <= 100 && !/[.:;,!?]$/.test(line);
}

/** Splits the plain-text terms into headings, paragraphs and lists (lines starting with "- "). */
export function parseTerms(body: string): TermsBlock[] {
  const blocks: TermsBlock[] = [];
  for (const raw of body.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith("- ")) {
      const item = line.slice(2).trim();
      const last = blocks.at(-1);
      if (last?.kind === "list") last.items.push(item);
      else blocks.push({ kind: "list", items: [item] });
    } else if (isHeading(line)) {
      blocks.push({ kind: "heading", text: line });
    } else {
      blocks.push({ kind: "paragraph", text: line });
    }
  }
  return blocks;
}
