//! Tokenizer for the label selector grammar (upstream `labels.Lexer`).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Token {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scanned {
    pub token: Token,
    pub literal: String,
}

fn keyword(literal: &str) -> Option<Token> {
    Some(match literal {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "in" => Token::In,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "notin" => Token::NotIn,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(ch: char) -> bool {
    matches!(ch, ' ' | '\t' | '\r' | '\n')
}

fn is_special_symbol(ch: char) -> bool {
    matches!(ch, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

/// Splits `input` into tokens; the last one is always `EndOfString` or `Error`.
pub(super) fn tokenize(input: &str) -> Vec<Scanned> {
    let chars: Vec<char> = input.chars().collect();
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        while pos < chars.len() && is_whitespace(chars[pos]) {
            pos += 1;
        }
        let Some(&ch) = chars.get(pos) else {
            out.push(Scanned {
                token: Token::EndOfString,
                literal: String::new(),
            });
            return out;
        };
        let scanned = if is_special_symbol(ch) {
            scan_special_symbol(&chars, &mut pos)
        } else {
            scan_id_or_keyword(&chars, &mut pos)
        };
        let done = scanned.token == Token::Error;
        out.push(scanned);
        if done {
            return out;
        }
    }
}

/// Longest run of special symbols that still forms a known operator.
fn scan_special_symbol(chars: &[char], pos: &mut usize) -> Scanned {
    let mut buffer = String::new();
    let mut last: Option<Scanned> = None;
    while let Some(&ch) = chars.get(*pos) {
        if !is_special_symbol(ch) {
            break;
        }
        buffer.push(ch);
        if let Some(token) = keyword(&buffer) {
            last = Some(Scanned {
                token,
                literal: buffer.clone(),
            });
            *pos += 1;
        } else if last.is_some() {
            break;
        } else {
            *pos += 1;
        }
    }
    last.unwrap_or(Scanned {
        token: Token::Error,
        literal: format!("error expected: keyword found '{buffer}'"),
    })
}

fn scan_id_or_keyword(chars: &[char], pos: &mut usize) -> Scanned {
    let mut literal = String::new();
    while let Some(&ch) = chars.get(*pos) {
        if is_whitespace(ch) || is_special_symbol(ch) {
            break;
        }
        literal.push(ch);
        *pos += 1;
    }
    let token = match keyword(&literal) {
        Some(token) => token,
        None => Token::Identifier,
    };
    Scanned { token, literal }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &[(Token, &str)]) {
        let got: Vec<(Token, String)> = tokenize(input)
            .into_iter()
            .map(|s| (s.token, s.literal))
            .collect();
        let expected: Vec<(Token, String)> =
            expected.iter().map(|(t, l)| (*t, l.to_string())).collect();
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn tokens() {
        use Token::*;
        check("", &[(EndOfString, "")]);
        check(
            "a==b",
            &[
                (Identifier, "a"),
                (DoubleEquals, "=="),
                (Identifier, "b"),
                (EndOfString, ""),
            ],
        );
        check(
            " x in (y, z) ",
            &[
                (Identifier, "x"),
                (In, "in"),
                (OpenPar, "("),
                (Identifier, "y"),
                (Comma, ","),
                (Identifier, "z"),
                (ClosedPar, ")"),
                (EndOfString, ""),
            ],
        );
        check(
            "!a",
            &[(DoesNotExist, "!"), (Identifier, "a"), (EndOfString, "")],
        );
        check(
            "a!=b",
            &[
                (Identifier, "a"),
                (NotEquals, "!="),
                (Identifier, "b"),
                (EndOfString, ""),
            ],
        );
        check(
            "a=(",
            &[
                (Identifier, "a"),
                (Equals, "="),
                (OpenPar, "("),
                (EndOfString, ""),
            ],
        );
        check(
            "a>1",
            &[
                (Identifier, "a"),
                (GreaterThan, ">"),
                (Identifier, "1"),
                (EndOfString, ""),
            ],
        );
        check(
            "a notin",
            &[(Identifier, "a"), (NotIn, "notin"), (EndOfString, "")],
        );
    }
}
