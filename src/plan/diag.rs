//! Diagnostics: every problem found in a plan, with its place in the file, collected rather
//! than stopping at the first.

use std::ops::Range;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem: what is wrong, where (a byte range of the file), and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub help: Option<String>,
    pub span: Option<Range<usize>>,
    /// A stable code (`s2d::plan::...`) for problems that scripts may tell apart.
    pub code: Option<&'static str>,
}

/// The diagnostics of one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

/// How many diagnostics one file keeps: a hostile or broken file (100,000 unknown keys) gets
/// the first ones and a last line saying the rest were not listed, not a report per problem.
pub const MAX_DIAGNOSTICS: usize = 100;

impl Diagnostics {
    pub fn error(
        &mut self,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.push(Severity::Error, span, message.into(), help);
    }

    /// An error with a stable code (`s2d::plan::...`) and the help that goes with it.
    pub fn coded(
        &mut self,
        code: &'static str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(Severity::Error, span, message.into(), Some(help.into()));
        let kept = self.0.len() <= MAX_DIAGNOSTICS;
        if let Some(last) = self.0.last_mut()
            && kept
        {
            last.code = Some(code);
        }
    }

    pub fn warning(
        &mut self,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.push(Severity::Warning, span, message.into(), help);
    }

    fn push(
        &mut self,
        severity: Severity,
        span: Option<Range<usize>>,
        message: String,
        help: Option<String>,
    ) {
        match self.0.len() {
            n if n < MAX_DIAGNOSTICS => self.0.push(Diagnostic {
                severity,
                message,
                help,
                span,
                code: None,
            }),
            // The last place says that more were found; an error among them keeps the file
            // invalid.
            MAX_DIAGNOSTICS => self.0.push(Diagnostic {
                severity,
                message: format!("more than {MAX_DIAGNOSTICS} problems; the rest are not listed"),
                help: Some("fix the ones above and check the file again".into()),
                span: None,
                code: None,
            }),
            _ => {
                if severity == Severity::Error
                    && let Some(last) = self.0.last_mut()
                {
                    last.severity = Severity::Error;
                }
            }
        }
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

/// A diagnostic as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct JsonDiagnostic {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The stable code of the problem (`s2d::plan::...`), for those that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
}

/// A diagnostic with its file, as a miette report (source snippet, label, help).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Located {
    pub message: String,
    pub severity: Severity,
    pub help: Option<String>,
    /// The diagnostic's stable code, when it has one.
    pub id: Option<&'static str>,
    pub code: Excerpt,
    pub span: Option<miette::SourceSpan>,
}

impl Located {
    /// The report of `d` in `file` (named `name`): the snippet is an [`Excerpt`] around the
    /// error, so a report never holds, nor prints, more than a few lines of the file.
    pub fn new(name: &str, file: &str, d: &Diagnostic) -> Located {
        let (code, span) = match &d.span {
            Some(span) => {
                let (excerpt, span) = Excerpt::around(name, file, span.clone());
                (excerpt, Some((span.start, span.end - span.start).into()))
            }
            None => (Excerpt::empty(name), None),
        };
        Located {
            message: d.message.clone(),
            severity: d.severity,
            help: d.help.clone(),
            id: d.code,
            code,
            span,
        }
    }
}

/// Lines up to this many characters are shown whole in a snippet.
pub const SNIPPET_LINE: usize = 160;
/// On a longer line, the snippet keeps this many characters on either side of the error...
const SNIPPET_CONTEXT: usize = 60;
/// ...and at most this many of the error itself.
const SNIPPET_SPAN: usize = 80;
const ELLIPSIS: &str = "…";

/// The part of a file that a diagnostic shows: the line holding the error with the lines
/// around it, or, on a long line (minified XML, a 700 KB line of `<a>`), that line cut to a
/// readable width around the error with `…` where it was cut. Byte offsets, lines and columns
/// stay those of the file, so the report's `file:line:column` and label are right.
#[derive(Debug, Clone)]
pub struct Excerpt {
    name: String,
    /// What is shown.
    text: String,
    /// The file offset that `text`'s first byte stands for.
    offset: usize,
    /// The 0-based line and column (in characters) where `text` starts in the file.
    line: usize,
    column: usize,
}

impl Excerpt {
    fn empty(name: &str) -> Excerpt {
        Excerpt {
            name: name.into(),
            text: String::new(),
            offset: 0,
            line: 0,
            column: 0,
        }
    }

    /// The excerpt of `file` around `span`, and `span` cut to what the excerpt shows.
    pub fn around(name: &str, file: &str, span: Range<usize>) -> (Excerpt, Range<usize>) {
        let start = file.floor_char_boundary(span.start.min(file.len()));
        let end = file.floor_char_boundary(span.end.clamp(start, file.len()));
        let line_start = file[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = file[start..].find('\n').map_or(file.len(), |i| start + i);
        let line_chars = file[line_start..line_end].chars().count();
        let (from, to, prefix, suffix, span_end);
        if line_chars <= SNIPPET_LINE {
            // The whole line, and the lines before and after it when they are short too.
            from = previous_line(file, line_start).unwrap_or(line_start);
            to = next_line(file, line_end).unwrap_or(line_end);
            (prefix, suffix, span_end) = (false, false, end);
        } else {
            let mut ws = back_chars(file, start, SNIPPET_CONTEXT, line_start);
            if ws - line_start <= ELLIPSIS.len() {
                ws = line_start;
            }
            let se = end.min(forward_chars(file, start, SNIPPET_SPAN, line_end));
            let mut we = forward_chars(file, se, SNIPPET_CONTEXT, line_end);
            if line_end - we <= ELLIPSIS.len() {
                we = line_end;
            }
            (from, to) = (ws, we);
            (prefix, suffix, span_end) = (ws > line_start, we < line_end, se);
        }
        let mut text = String::with_capacity(to - from + 2 * ELLIPSIS.len());
        if prefix {
            text.push_str(ELLIPSIS);
        }
        text.push_str(&file[from..to]);
        if suffix {
            text.push_str(ELLIPSIS);
        }
        let (line, column) = line_column(file, from);
        // The ellipsis stands for the bytes just before `from`: the offsets after it stay the
        // file's (`from` is at least 4 bytes into its line when there is one).
        // miette counts a snippet's columns in bytes: the three of the ellipsis are taken off
        // the column where `text` starts, so the report names the error's column in the file.
        let offset = if prefix { from - ELLIPSIS.len() } else { from };
        let column = if prefix {
            (column - 1).saturating_sub(ELLIPSIS.len())
        } else {
            column - 1
        };
        (
            Excerpt {
                name: name.into(),
                text,
                offset,
                line: line - 1,
                column,
            },
            start..span_end,
        )
    }

    /// What the excerpt shows (for tests and for plain-text renderers).
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// The start of the line before the one starting at `line_start`, if that line is short.
fn previous_line(file: &str, line_start: usize) -> Option<usize> {
    let before = file[..line_start].strip_suffix('\n')?;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (before[start..].chars().count() <= SNIPPET_LINE).then_some(start)
}

/// The end of the line after the one ending at `line_end`, if that line is short.
fn next_line(file: &str, line_end: usize) -> Option<usize> {
    let after = file.get(line_end..)?.strip_prefix('\n')?;
    let len = after.find('\n').unwrap_or(after.len());
    (after[..len].chars().count() <= SNIPPET_LINE).then_some(line_end + 1 + len)
}

/// `at` moved back by up to `n` characters, not before `floor`.
fn back_chars(file: &str, at: usize, n: usize, floor: usize) -> usize {
    file[floor..at]
        .char_indices()
        .rev()
        .take(n)
        .last()
        .map_or(at, |(i, _)| floor + i)
}

/// `at` moved forward by up to `n` characters, not past `ceil`.
fn forward_chars(file: &str, at: usize, n: usize, ceil: usize) -> usize {
    file[at..ceil]
        .char_indices()
        .nth(n)
        .map_or(ceil, |(i, _)| at + i)
}

impl miette::SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let rel = span
            .offset()
            .checked_sub(self.offset)
            .ok_or(miette::MietteError::OutOfBounds)?;
        let inner = self.text.as_str().read_span(
            &(rel, span.len()).into(),
            context_lines_before,
            context_lines_after,
        )?;
        let column = if inner.line() == 0 {
            inner.column() + self.column
        } else {
            inner.column()
        };
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            (inner.span().offset() + self.offset, inner.span().len()).into(),
            inner.line() + self.line,
            column,
            inner.line_count(),
        )))
    }
}

impl miette::Diagnostic for Located {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.id
            .map(|c| Box::new(c) as Box<dyn std::fmt::Display + 'a>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.span.map(|_| &self.code as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.span.map(|span| {
            Box::new(std::iter::once(miette::LabeledSpan::new_with_span(
                Some("here".into()),
                span,
            ))) as Box<dyn Iterator<Item = miette::LabeledSpan>>
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(name: &str, file: &str, span: Range<usize>) -> String {
        let d = Diagnostic {
            severity: Severity::Error,
            message: "bad".into(),
            help: None,
            span: Some(span),
            code: None,
        };
        let report = miette::Report::new(Located::new(name, file, &d));
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .render_report(&mut out, report.as_ref())
            .expect("render");
        out
    }

    #[test]
    fn a_short_line_is_shown_whole_with_its_neighbours() {
        let file = "a = 1\nb = oops\nc = 3\nd = 4\n";
        let at = file.find("oops").expect("oops");
        let out = render("p.toml", file, at..at + 4);
        assert!(out.contains("[p.toml:2:5]"), "{out}");
        for l in ["a = 1", "b = oops", "c = 3"] {
            assert!(out.contains(l), "{out}");
        }
        assert!(!out.contains("d = 4"), "{out}");
        assert!(out.contains("────"), "{out}");
    }

    #[test]
    fn a_long_line_is_cut_around_the_error() {
        // 700 KB of `<a>` on one line, the error in the middle of it.
        let line = format!("{}<bad>{}", "<a>".repeat(120_000), "<a>".repeat(120_000));
        let file = format!("first\n{line}\nlast\n");
        let at = file.find("<bad>").expect("bad") + 1;
        let out = render("p.xml", &file, at..at + 3);
        assert!(out.len() < 2_000, "{} bytes: {out}", out.len());
        let (_, column) = line_column(&file, at);
        assert!(out.contains(&format!("[p.xml:2:{column}]")), "{out}");
        assert!(out.contains("│ …"), "{out}");
        assert!(out.contains("<bad>"), "{out}");
        assert!(!out.contains("first") && !out.contains("last"), "{out}");
        // The label stands under `bad`: the same column as in the snippet line.
        let snippet = out.lines().find(|l| l.contains("<bad>")).expect("line");
        assert!(snippet.trim_end().ends_with('…'), "{snippet}");
        let label = out.lines().find(|l| l.contains("┬")).expect("label");
        let col_of = |s: &str, needle: &str| s[..s.find(needle).expect("needle")].chars().count();
        assert_eq!(
            col_of(snippet, "bad>"),
            col_of(label, "┬") - 1,
            "{snippet}\n{label}"
        );

        // An error at the very start of a long line has no leading ellipsis.
        let (excerpt, _) = Excerpt::around("p", &file, 6..7);
        assert!(excerpt.text().starts_with("<a><a>"));
        assert!(excerpt.text().ends_with('…'));
        // A huge span is cut too.
        let (excerpt, span) = Excerpt::around("p", &file, 6..file.len());
        assert!(excerpt.text().chars().count() < 200);
        assert!(span.end - span.start <= SNIPPET_SPAN * 4);
    }

    #[test]
    fn the_number_of_diagnostics_is_bounded() {
        let mut d = Diagnostics::default();
        for i in 0..10_000 {
            d.warning(Some(i..i), format!("w{i}"), None);
        }
        assert_eq!(d.0.len(), MAX_DIAGNOSTICS + 1);
        assert!(!d.has_errors(), "warnings past the limit stay warnings");
        d.error(None, "late", None);
        assert!(
            d.has_errors(),
            "an error past the limit still makes the file invalid"
        );
        assert!(d.0[MAX_DIAGNOSTICS].message.contains("not listed"));
    }

    #[test]
    fn a_coded_error_carries_its_code_to_json_and_miette() {
        let mut d = Diagnostics::default();
        d.coded("s2d::plan::x", Some(0..1), "bad", "fix it");
        assert_eq!(d.0[0].code, Some("s2d::plan::x"));
        assert_eq!(d.0[0].help.as_deref(), Some("fix it"));
        let located = Located::new("p.toml", "a = 1\n", &d.0[0]);
        let code = miette::Diagnostic::code(&located).map(|c| c.to_string());
        assert_eq!(code.as_deref(), Some("s2d::plan::x"));
        // Past the limit, the last line keeps saying that more were found.
        let mut d = Diagnostics::default();
        for _ in 0..=MAX_DIAGNOSTICS + 2 {
            d.coded("s2d::plan::x", None, "bad", "fix it");
        }
        assert_eq!(d.0[MAX_DIAGNOSTICS].code, None);
    }

    #[test]
    fn lines_and_columns_are_one_based() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 9), (2, 3));
    }
}
