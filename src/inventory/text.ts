// SPDX-License-Identifier: Apache-2.0
// Untrusted text (pod names, labels, images, executables, DNS names) made safe for each
// output: control characters, line breaks and bidi overrides shown as \x.. / \u.... escapes,
// so a name can neither break a line, a table, a YAML comment nor the reader's terminal.
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/gu;

export function visible(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(INVISIBLE, (c) => {
    const n = c.codePointAt(0)!;
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

/** A markdown table cell: visible, with what markdown would read as markup escaped. */
export function mdCell(s: string): string {
  return visible(s).replace(/[|`*_[\]#~]/g, (c) => `\\${c}`).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function htmlText(s: string): string {
  return visible(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}
