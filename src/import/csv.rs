//! A CSV reader (RFC 4180): fields separated by commas, records by CRLF or LF, a field in
//! double quotes may hold commas, quotes (doubled) and line breaks. Each record says the line
//! it starts on, so a refusal can name it. Pure.

/// One record of the file and the line (1-based) it starts on.
#[derive(Debug, PartialEq, Eq)]
pub struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

/// A file that is not CSV, and where.
#[derive(Debug, PartialEq, Eq)]
pub struct CsvError {
    pub line: usize,
    pub message: String,
}

/// The records of `text`, in order; blank lines are skipped. Stops at the first error.
pub fn records(text: &str) -> Records<'_> {
    Records {
        rest: text,
        line: 1,
        failed: false,
    }
}

pub struct Records<'a> {
    rest: &'a str,
    line: usize,
    failed: bool,
}

impl Iterator for Records<'_> {
    type Item = Result<Record, CsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        // Blank lines between records are no records.
        loop {
            if let Some(r) = self.rest.strip_prefix("\r\n") {
                self.rest = r;
            } else if let Some(r) = self.rest.strip_prefix('\n') {
                self.rest = r;
            } else {
                break;
            }
            self.line += 1;
        }
        if self.rest.is_empty() {
            return None;
        }
        let start = self.line;
        let result = self.record();
        if result.is_err() {
            self.failed = true;
        }
        Some(result.map(|fields| Record {
            line: start,
            fields,
        }))
    }
}

impl Records<'_> {
    /// Reads one record from the start of `rest`, through its line break.
    fn record(&mut self) -> Result<Vec<String>, CsvError> {
        let mut fields = Vec::new();
        let mut chars = self.rest.char_indices().peekable();
        let mut field = String::new();
        let mut consumed = self.rest.len();
        let mut quoted_from: Option<usize> = None;
        // Whether the current field was quoted and its closing quote has been read.
        let mut closed = false;
        while let Some((i, c)) = chars.next() {
            if quoted_from.is_some() {
                match c {
                    '"' if chars.peek().map(|p| p.1) == Some('"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => {
                        quoted_from = None;
                        closed = true;
                    }
                    '\n' => {
                        self.line += 1;
                        field.push('\n');
                    }
                    c => field.push(c),
                }
                continue;
            }
            match c {
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    closed = false;
                }
                '\r' if chars.peek().map(|p| p.1) == Some('\n') => {}
                '\n' => {
                    consumed = i + 1;
                    self.line += 1;
                    break;
                }
                _ if closed => {
                    return Err(CsvError {
                        line: self.line,
                        message: format!(
                            "`{}` after the closing quote of field {}; a quoted field ends \
                             with `\"` followed by a comma or the end of the line",
                            c.escape_default(),
                            fields.len() + 1
                        ),
                    });
                }
                '"' if field.is_empty() => quoted_from = Some(self.line),
                c => field.push(c),
            }
        }
        if let Some(from) = quoted_from {
            return Err(CsvError {
                line: from,
                message: format!(
                    "field {} opens a quote that is never closed",
                    fields.len() + 1
                ),
            });
        }
        fields.push(field);
        self.rest = &self.rest[consumed..];
        Ok(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Result<Vec<Record>, CsvError> {
        records(text).collect()
    }

    #[test]
    fn quoted_fields_hold_commas_quotes_and_line_breaks() {
        let text = "a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\nthen go\"\n\n2,,\n";
        let got = all(text).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].fields, ["a", "b", "c"]);
        assert_eq!(got[1].line, 2);
        assert_eq!(got[1].fields, ["1", "x, y", "say \"hi\"\nthen go"]);
        // The record after the quoted line break starts on line 5 (line 4 is blank).
        assert_eq!(got[2].line, 5);
        assert_eq!(got[2].fields, ["2", "", ""]);
    }

    #[test]
    fn the_last_record_needs_no_line_break() {
        assert_eq!(all("a,b").unwrap()[0].fields, ["a", "b"]);
    }

    #[test]
    fn an_unclosed_quote_names_the_line_it_opens_on() {
        let e = all("a,b\n1,\"open\n2,3\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("never closed"), "{}", e.message);
    }

    #[test]
    fn text_after_a_closing_quote_is_refused() {
        let e = all("a,b\n\"x\"y,2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("closing quote"), "{}", e.message);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = ['a', ',', '"', '\n', '\r', ' ', 'é', '1'];
        for _ in 0..2000 {
            let mut s = String::new();
            for _ in 0..(seed % 40) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let _ = all(&s);
        }
    }
}
