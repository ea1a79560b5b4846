//! Words as search sees them, one definition for both stores: a word is a
//! run of letters, digits and combining marks; it is compared folded (no
//! accents, lower case) and cut at [`MAX_WORD_CHARS`]. The stores index the
//! folded words this module produces (SQLite's FTS5 with its `ascii`
//! tokenizer, which splits them on the spaces between them and nothing
//! else; PostgreSQL's `tsvector` built from them with positions), so both
//! find exactly the same messages for the same query.
//!
//! Also the query language users type (words, `"quoted phrases"`, the last
//! bare word a prefix: nothing else is an operator), and the snippet: the
//! HTML-escaped text around the first match with matched words marked.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::error::{AppError, Result};

/// Longer words are cut here when indexed and when searched for alike
/// (PostgreSQL refuses lexemes over 2 KiB).
pub const MAX_WORD_CHARS: usize = 64;
/// A query's length limit, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// A snippet's length, in characters of the text (marks not counted).
pub const SNIPPET_CHARS: usize = 200;
/// Characters of text kept before the first match.
const SNIPPET_LEAD: usize = 60;

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c)
}

/// A word as the index compares it: decomposed, without its combining
/// marks, lower-cased, at most `MAX_WORD_CHARS`. Empty for a word of marks
/// only.
pub fn fold(word: &str) -> String {
    if word.is_ascii() {
        // The common case, without decomposition: the same result.
        let mut folded: String = word
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(MAX_WORD_CHARS)
            .collect();
        folded.make_ascii_lowercase();
        return folded;
    }
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric())
        .take(MAX_WORD_CHARS)
        .collect()
}

/// The words of `text` as (start, end) character offsets.
fn spans(chars: &[char]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in chars.iter().enumerate() {
        match (is_word_char(*c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, chars.len()));
    }
    out
}

/// The folded words of `text`, in order.
pub fn words(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    spans(&chars)
        .into_iter()
        .map(|(s, e)| fold(&chars[s..e].iter().collect::<String>()))
        .filter(|w| !w.is_empty())
        .collect()
}

/// What the index holds for a message: its text's words and its file
/// name's, each as folded words joined by single spaces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexedText {
    pub body: String,
    pub name: String,
}

impl IndexedText {
    pub fn of(text: Option<&str>, filename: Option<&str>) -> Self {
        IndexedText {
            body: words(text.unwrap_or_default()).join(" "),
            name: words(filename.unwrap_or_default()).join(" "),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_empty() && self.name.is_empty()
    }

    /// As a PostgreSQL `tsvector` literal: each word with its positions,
    /// the name's after a gap so that no phrase spans the two.
    pub fn tsvector(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let mut positions: Vec<(&str, Vec<usize>)> = Vec::new();
        let body = self.body.split(' ').filter(|w| !w.is_empty());
        let gap = self.body.split(' ').filter(|w| !w.is_empty()).count() + 2;
        let name = self.name.split(' ').filter(|w| !w.is_empty());
        let placed = body
            .enumerate()
            .map(|(i, w)| (w, i + 1))
            .chain(name.enumerate().map(|(i, w)| (w, gap + i)));
        for (word, at) in placed {
            // PostgreSQL keeps positions up to 16383.
            let at = at.min(16_383);
            match positions.iter_mut().find(|(w, _)| *w == word) {
                Some((_, list)) => list.push(at),
                None => positions.push((word, vec![at])),
            }
        }
        let mut out = String::new();
        for (word, list) in positions {
            if !out.is_empty() {
                out.push(' ');
            }
            // Words are letters and digits only: nothing to escape.
            out.push('\'');
            out.push_str(word);
            out.push_str("':");
            let list: Vec<String> = list.iter().map(usize::to_string).collect();
            out.push_str(&list.join(","));
        }
        Some(out)
    }
}

/// One thing a query asks for: a word (one entry) or a phrase (several in
/// order); `prefix` for the query's last bare word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerm {
    pub words: Vec<String>,
    pub prefix: bool,
}

/// A parsed search query: every term must match (AND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub terms: Vec<SearchTerm>,
}

impl SearchQuery {
    /// Words and `"quoted phrases"` (quotes pair up; an unclosed one is
    /// ignored); everything else (operators of either engine included) only
    /// separates words. 400 `validation_failed` for an empty, too long or
    /// wordless query.
    pub fn parse(raw: Option<&str>) -> Result<Self> {
        let raw = raw.unwrap_or_default();
        let len = raw.chars().count();
        if len == 0 || len > MAX_QUERY_CHARS {
            return Err(AppError::validation(format!(
                "q must be 1-{MAX_QUERY_CHARS} characters"
            )));
        }
        let segments: Vec<&str> = raw.split('"').collect();
        let mut terms: Vec<SearchTerm> = Vec::new();
        let mut last_bare = false;
        for (i, segment) in segments.iter().enumerate() {
            let quoted = i % 2 == 1 && i < segments.len() - 1;
            let found = words(segment);
            if found.is_empty() {
                continue;
            }
            if quoted {
                terms.push(SearchTerm {
                    words: found,
                    prefix: false,
                });
                last_bare = false;
            } else {
                terms.extend(found.into_iter().map(|w| SearchTerm {
                    words: vec![w],
                    prefix: false,
                }));
                last_bare = true;
            }
        }
        if terms.is_empty() {
            return Err(AppError::validation("q has no word to search for"));
        }
        if last_bare && let Some(last) = terms.last_mut() {
            last.prefix = true;
        }
        Ok(SearchQuery { terms })
    }

    /// As an FTS5 MATCH expression: each term a quoted string (a phrase),
    /// the prefix one starred, all joined by AND. `expand` may spell the
    /// prefix out as the words it stands for (`None`: it cannot). `None`
    /// when it spelled out no word: nothing matches.
    pub fn fts5(&self, expand: impl Fn(&str) -> Option<Vec<String>>) -> Option<String> {
        let parts: Vec<String> = self
            .terms
            .iter()
            .map(|t| {
                let quoted = format!("\"{}\"", t.words.join(" "));
                if !t.prefix {
                    return Some(quoted);
                }
                match expand(&t.words[0]) {
                    Some(words) if words.is_empty() => None,
                    Some(words) => {
                        let words: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
                        Some(format!("({})", words.join(" OR ")))
                    }
                    None => Some(format!("{quoted}*")),
                }
            })
            .collect::<Option<Vec<String>>>()?;
        Some(parts.join(" AND "))
    }

    /// As a PostgreSQL `tsquery` literal: `&` between terms, `<->` inside
    /// a phrase, `:*` on the prefix.
    pub fn tsquery(&self) -> String {
        let parts: Vec<String> = self
            .terms
            .iter()
            .map(|t| {
                let words: Vec<String> = t.words.iter().map(|w| format!("'{w}'")).collect();
                let mut part = words.join(" <-> ");
                if t.prefix {
                    part.push_str(":*");
                }
                if t.words.len() > 1 {
                    part = format!("({part})");
                }
                part
            })
            .collect();
        parts.join(" & ")
    }

    /// Whether a message indexed as `indexed` matches, by the engines'
    /// rules: every term in one of its two parts (text, file name), a
    /// phrase's words in a row within one part, the prefix term as the
    /// start of a word.
    pub fn matches_indexed(&self, indexed: &IndexedText) -> bool {
        let parts: [Vec<&str>; 2] = [
            indexed.body.split(' ').filter(|w| !w.is_empty()).collect(),
            indexed.name.split(' ').filter(|w| !w.is_empty()).collect(),
        ];
        self.terms.iter().all(|t| {
            parts.iter().any(|words| {
                if t.prefix {
                    words.iter().any(|w| w.starts_with(t.words[0].as_str()))
                } else {
                    words
                        .windows(t.words.len())
                        .any(|run| run.iter().zip(&t.words).all(|(a, b)| *a == b.as_str()))
                }
            })
        })
    }

    /// Whether a word of a text is one this query matched (for marks).
    fn matches(&self, word: &str) -> bool {
        let folded = fold(word);
        if folded.is_empty() {
            return false;
        }
        self.terms
            .iter()
            .any(|t| t.words.contains(&folded) || (t.prefix && folded.starts_with(t.words[0].as_str())))
    }

    /// The snippet of a found message: from its text if a matched word is
    /// in it, else from its file name, else the start of either.
    pub fn snippet(&self, text: Option<&str>, filename: Option<&str>) -> String {
        text.and_then(|t| self.snippet_of(t))
            .or_else(|| filename.and_then(|f| self.snippet_of(f)))
            .unwrap_or_else(|| {
                let start: String = text
                    .or(filename)
                    .unwrap_or_default()
                    .chars()
                    .take(SNIPPET_CHARS)
                    .collect();
                escape_html(&start)
            })
    }

    /// At most `SNIPPET_CHARS` of `text` around its first matched word,
    /// HTML-escaped, every matched word inside it marked; `None` when no
    /// word matched.
    fn snippet_of(&self, text: &str) -> Option<String> {
        let chars: Vec<char> = text.chars().collect();
        let matched: Vec<(usize, usize)> = spans(&chars)
            .into_iter()
            .filter(|(s, e)| self.matches(&chars[*s..*e].iter().collect::<String>()))
            .collect();
        let first = matched.first()?;
        let to = (first.0.saturating_sub(SNIPPET_LEAD) + SNIPPET_CHARS).min(chars.len());
        let from = to.saturating_sub(SNIPPET_CHARS);
        let piece = |a: usize, b: usize| escape_html(&chars[a..b].iter().collect::<String>());
        let mut out = String::new();
        let mut at = from;
        for (s, e) in matched.into_iter().filter(|(s, e)| *s >= from && *e <= to) {
            out.push_str(&piece(at, s));
            out.push_str("<mark>");
            out.push_str(&piece(s, e));
            out.push_str("</mark>");
            at = e;
        }
        out.push_str(&piece(at, to));
        Some(out)
    }
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(raw: &str) -> SearchQuery {
        SearchQuery::parse(Some(raw)).unwrap()
    }

    #[test]
    fn folding_drops_accents_and_case() {
        assert_eq!(
            words("Café, CAFÉ! naïve Ångström"),
            ["cafe", "cafe", "naive", "angstrom"]
        );
        assert_eq!(words("e\u{301}te\u{301}"), ["ete"]);
        assert_eq!(words("don't v2.1 foo-bar"), ["don", "t", "v2", "1", "foo", "bar"]);
        assert_eq!(words("日本語 テキスト"), ["日本語", "テキスト"]);
        assert_eq!(words(&"a".repeat(300))[0].len(), MAX_WORD_CHARS);
        assert!(words(" \u{301} !!").is_empty());
    }

    #[test]
    fn queries_are_words_phrases_and_a_prefix() {
        let parsed = q("Hello \"big World\" caf");
        let fts5 = |q: &SearchQuery| q.fts5(|_| None).unwrap();
        assert_eq!(fts5(&parsed), "\"hello\" AND \"big world\" AND \"caf\"*");
        let spelled = parsed.fts5(|p| Some(vec![format!("{p}e"), format!("{p}es")]));
        assert_eq!(
            spelled.unwrap(),
            "\"hello\" AND \"big world\" AND (\"cafe\" OR \"cafes\")"
        );
        assert_eq!(parsed.fts5(|_| Some(Vec::new())), None, "no word has the prefix");
        assert_eq!(parsed.tsquery(), "'hello' & ('big' <-> 'world') & 'caf':*");
        assert_eq!(q("\"a b\"").tsquery(), "('a' <-> 'b')");
        assert_eq!(
            fts5(&q("a \"b")),
            "\"a\" AND \"b\"*",
            "an unclosed quote is ignored"
        );
        assert_eq!(
            fts5(&q("NEAR(a b) OR -c* ^d:e")),
            "\"near\" AND \"a\" AND \"b\" AND \"or\" AND \"c\" AND \"d\" AND \"e\"*"
        );
        for bad in ["", "*", "\"\"", "-- ' ; !", &"a".repeat(201)] {
            assert!(SearchQuery::parse(Some(bad)).is_err(), "{bad:?}");
        }
        assert!(SearchQuery::parse(None).is_err());
    }

    #[test]
    fn matching_in_memory_follows_the_engines_rules() {
        let m = IndexedText::of(Some("Hello big World"), Some("report-2026.pdf"));
        for (query, expected) in [
            ("hello", true),
            ("hel", true),
            ("hel wor", false),
            ("hello wor", true),
            ("wor hello", false),
            ("\"big world\"", true),
            ("\"world big\"", false),
            ("\"world report\"", false),
            ("world report", true),
            ("\"2026 pdf\"", true),
            ("zebra", false),
            ("bi world", false),
        ] {
            assert_eq!(q(query).matches_indexed(&m), expected, "{query}");
        }
    }

    #[test]
    fn tsvectors_have_positions_and_a_gap() {
        let t = IndexedText::of(Some("a b a"), Some("b.pdf"));
        assert_eq!(t.body, "a b a");
        assert_eq!(t.name, "b pdf");
        assert_eq!(t.tsvector().unwrap(), "'a':1,3 'b':2,5 'pdf':6");
        assert_eq!(IndexedText::of(None, None).tsvector(), None);
    }

    #[test]
    fn snippets_escape_and_mark() {
        let parsed = q("cafe hel");
        assert_eq!(
            parsed.snippet(Some("<b>Café</b> & hello, HELIUM hel"), None),
            "&lt;b&gt;<mark>Café</mark>&lt;/b&gt; &amp; <mark>hello</mark>, <mark>HELIUM</mark> <mark>hel</mark>"
        );
        let long = format!("{} needle {}", "x ".repeat(200), "y ".repeat(200));
        let s = q("needle").snippet(Some(&long), None);
        assert!(s.contains("<mark>needle</mark>"));
        assert_eq!(
            s.replace("<mark>", "").replace("</mark>", "").chars().count(),
            SNIPPET_CHARS
        );
        assert_eq!(
            q("report").snippet(Some("see attached"), Some("report.pdf")),
            "<mark>report</mark>.pdf"
        );
    }
}
