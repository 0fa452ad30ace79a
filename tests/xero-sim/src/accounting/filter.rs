//! The `where` query parameter: Xero's .NET-flavoured filter expressions such as
//! `Status=="ACTIVE" AND Type=="BANK"`, `Contact.ContactID==guid("…")`, `AmountDue>0`,
//! `Name.Contains("Shop")` or `Date>=DateTime(2026,08,01)`. They are evaluated against the JSON
//! Xero would print for each record, so any printed field can be filtered on. String equality is
//! case-insensitive, as it is on Xero's SQL Server collation (UNSURE).

use rust_decimal::Decimal;
use serde_json::Value;
use time::{Date, Month};

use crate::wire;

/// A parsed `where` expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// Both sides hold.
    And(Box<Expr>, Box<Expr>),
    /// Either side holds.
    Or(Box<Expr>, Box<Expr>),
    /// The inside does not hold.
    Not(Box<Expr>),
    /// `path op literal`.
    Compare(Vec<String>, Op, Literal),
    /// `path.Method("text")`.
    Method(Vec<String>, StringMethod, String),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// String methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringMethod {
    /// `Contains`
    Contains,
    /// `StartsWith`
    StartsWith,
    /// `EndsWith`
    EndsWith,
}

/// Right-hand sides.
#[derive(Debug, Clone)]
pub enum Literal {
    /// `"text"` or `guid("…")`.
    Text(String),
    /// A number.
    Number(Decimal),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `DateTime(y,m,d)`.
    Date(Date),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    Dot,
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                tokens.push(Token::LParen);
                i += 1;
            }
            ')' => {
                tokens.push(Token::RParen);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '.' if !chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                tokens.push(Token::Dot);
                i += 1;
            }
            '"' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string literal".into()),
                        Some('\\') if chars.get(i + 1) == Some(&'"') => {
                            text.push('"');
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            text.push(*ch);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Str(text));
            }
            '=' | '!' | '<' | '>' | '&' | '|' => {
                let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
                let op = match two.as_str() {
                    "==" => "==",
                    "!=" => "!=",
                    "<=" => "<=",
                    ">=" => ">=",
                    "&&" => "AND",
                    "||" => "OR",
                    _ => match c {
                        '<' => "<",
                        '>' => ">",
                        '!' => "NOT",
                        '=' => "==",
                        _ => return Err(format!("unexpected '{c}'")),
                    },
                };
                i += if matches!(op, "<" | ">" | "NOT") || (op == "==" && two != "==") {
                    1
                } else {
                    2
                };
                tokens.push(Token::Op(op));
            }
            c if c.is_ascii_digit() || c == '-' || c == '.' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                tokens.push(Token::Num(chars[start..i].iter().collect()));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                match word.to_ascii_uppercase().as_str() {
                    "AND" => tokens.push(Token::Op("AND")),
                    "OR" => tokens.push(Token::Op("OR")),
                    "NOT" => tokens.push(Token::Op("NOT")),
                    _ => tokens.push(Token::Ident(word)),
                }
            }
            other => return Err(format!("unexpected '{other}'")),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn expect(&mut self, token: &Token) -> Result<(), String> {
        match self.next() {
            Some(ref t) if t == token => Ok(()),
            other => Err(format!("expected {token:?}, found {other:?}")),
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Op("OR")) {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Token::Op("AND")) {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(&Token::Op("NOT")) {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Token::LParen) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(&Token::RParen)?;
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let mut path = Vec::new();
        match self.next() {
            Some(Token::Ident(name)) => path.push(name),
            other => return Err(format!("expected a field name, found {other:?}")),
        }
        while self.peek() == Some(&Token::Dot) {
            self.pos += 1;
            let Some(Token::Ident(name)) = self.next() else {
                return Err("expected a name after '.'".into());
            };
            if self.peek() == Some(&Token::LParen) {
                let method = match name.as_str() {
                    "Contains" => StringMethod::Contains,
                    "StartsWith" => StringMethod::StartsWith,
                    "EndsWith" => StringMethod::EndsWith,
                    other => return Err(format!("unsupported method {other}")),
                };
                self.pos += 1;
                let Some(Token::Str(arg)) = self.next() else {
                    return Err("expected a string argument".into());
                };
                self.expect(&Token::RParen)?;
                return Ok(Expr::Method(path, method, arg));
            }
            path.push(name);
        }
        let op = match self.next() {
            Some(Token::Op("==")) => Op::Eq,
            Some(Token::Op("!=")) => Op::Ne,
            Some(Token::Op("<")) => Op::Lt,
            Some(Token::Op("<=")) => Op::Le,
            Some(Token::Op(">")) => Op::Gt,
            Some(Token::Op(">=")) => Op::Ge,
            other => return Err(format!("expected a comparison, found {other:?}")),
        };
        Ok(Expr::Compare(path, op, self.literal()?))
    }

    fn literal(&mut self) -> Result<Literal, String> {
        match self.next() {
            Some(Token::Str(text)) => Ok(Literal::Text(text)),
            Some(Token::Num(text)) => text
                .parse()
                .map(Literal::Number)
                .map_err(|_| format!("bad number {text}")),
            Some(Token::Ident(word)) => match word.to_ascii_lowercase().as_str() {
                "true" => Ok(Literal::Bool(true)),
                "false" => Ok(Literal::Bool(false)),
                "null" => Ok(Literal::Null),
                "guid" => {
                    self.expect(&Token::LParen)?;
                    let Some(Token::Str(text)) = self.next() else {
                        return Err("guid() takes a string".into());
                    };
                    self.expect(&Token::RParen)?;
                    Ok(Literal::Text(text))
                }
                "datetime" => {
                    self.expect(&Token::LParen)?;
                    let mut parts = Vec::new();
                    loop {
                        match self.next() {
                            Some(Token::Num(n)) => parts
                                .push(n.parse::<i32>().map_err(|_| format!("bad date part {n}"))?),
                            other => return Err(format!("bad DateTime part {other:?}")),
                        }
                        match self.next() {
                            Some(Token::Comma) => {}
                            Some(Token::RParen) => break,
                            other => return Err(format!("bad DateTime syntax {other:?}")),
                        }
                    }
                    let [year, month, day, ..] = parts[..] else {
                        return Err("DateTime needs year, month and day".into());
                    };
                    let month = u8::try_from(month)
                        .ok()
                        .and_then(|m| Month::try_from(m).ok())
                        .ok_or("bad month")?;
                    let day = u8::try_from(day).map_err(|_| "bad day")?;
                    Date::from_calendar_date(year, month, day)
                        .map(Literal::Date)
                        .map_err(|e| e.to_string())
                }
                _ => Err(format!("unexpected {word}")),
            },
            other => Err(format!("expected a value, found {other:?}")),
        }
    }
}

/// Parses a `where` expression.
///
/// # Errors
/// A description of what could not be parsed.
pub fn parse(input: &str) -> Result<Expr, String> {
    let mut parser = Parser {
        tokens: tokenize(input)?,
        pos: 0,
    };
    let expr = parser.or()?;
    if parser.pos < parser.tokens.len() {
        return Err(format!("unexpected {:?}", parser.tokens[parser.pos]));
    }
    Ok(expr)
}

/// The value at a dotted path (`Contact.ContactID`), keys matched case-insensitively.
pub fn lookup<'a>(record: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(record, |value, key| {
        value
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim_matches('\u{1}').to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn ordering_holds(op: Op, ordering: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    matches!(
        (op, ordering),
        (Op::Eq, Equal)
            | (Op::Ne, Less | Greater)
            | (Op::Lt, Less)
            | (Op::Le, Less | Equal)
            | (Op::Gt, Greater)
            | (Op::Ge, Greater | Equal)
    )
}

impl Expr {
    /// Whether a record (as Xero prints it) satisfies the expression.
    pub fn matches(&self, record: &Value) -> bool {
        match self {
            Self::And(a, b) => a.matches(record) && b.matches(record),
            Self::Or(a, b) => a.matches(record) || b.matches(record),
            Self::Not(inner) => !inner.matches(record),
            Self::Method(path, method, arg) => {
                let Some(text) = lookup(record, path).and_then(as_text) else {
                    return false;
                };
                let (text, arg) = (text.to_lowercase(), arg.to_lowercase());
                match method {
                    StringMethod::Contains => text.contains(&arg),
                    StringMethod::StartsWith => text.starts_with(&arg),
                    StringMethod::EndsWith => text.ends_with(&arg),
                }
            }
            Self::Compare(path, op, literal) => {
                let value = lookup(record, path).filter(|v| !v.is_null());
                match (value, literal) {
                    (None, Literal::Null) => *op == Op::Eq,
                    (Some(_), Literal::Null) => *op == Op::Ne,
                    (None, _) => *op == Op::Ne,
                    (Some(value), Literal::Text(text)) => as_text(value).is_some_and(|v| {
                        ordering_holds(*op, v.to_lowercase().cmp(&text.to_lowercase()))
                    }),
                    (Some(value), Literal::Number(n)) => {
                        wire::marked_decimal(value).is_some_and(|v| ordering_holds(*op, v.cmp(n)))
                    }
                    (Some(value), Literal::Bool(b)) => value
                        .as_bool()
                        .is_some_and(|v| ordering_holds(*op, v.cmp(b))),
                    (Some(value), Literal::Date(d)) => {
                        wire::parse_date(value).is_some_and(|v| ordering_holds(*op, v.cmp(d)))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(expr: &str, record: &Value) -> bool {
        parse(expr).expect(expr).matches(record)
    }

    #[test]
    fn xero_style_filters_select_the_right_records() {
        let account = json!({"Status": "ACTIVE", "Type": "BANK", "Code": "090",
            "Contact": {"ContactID": "AB-12"}, "AmountDue": wire::money(Decimal::TEN),
            "Date": "/Date(1552262400000+0000)/", "IsCustomer": true});
        assert!(check(r#"Status=="ACTIVE" AND Type=="BANK""#, &account));
        assert!(check(r#"Status=="ACTIVE" && Type=="bank""#, &account));
        assert!(!check(r#"Status=="ARCHIVED" OR Type=="REVENUE""#, &account));
        assert!(check(r#"Code=="090""#, &account));
        assert!(check(r#"Contact.ContactID==guid("ab-12")"#, &account));
        assert!(check("AmountDue>0", &account));
        assert!(check("AmountDue>=10.00", &account));
        assert!(!check("AmountDue<10", &account));
        assert!(check("Date>=DateTime(2019,03,11)", &account));
        assert!(check(r#"Code.StartsWith("09")"#, &account));
        assert!(check("IsCustomer==true", &account));
        assert!(check("Reference==null", &account));
        assert!(check(
            r#"(Type=="REVENUE" OR Type=="BANK") AND NOT Status=="ARCHIVED""#,
            &account
        ));
    }

    #[test]
    fn malformed_filters_are_reported() {
        assert!(parse(r#"Status=="ACTIVE"#).is_err());
        assert!(parse("Status ACTIVE").is_err());
    }
}
