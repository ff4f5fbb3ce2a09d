//! A recursive-descent parser, with precedence climbing for binary operators.
//!
//! Precedence, loosest first (AWS documents none, so this is SQL's): `OR`; `AND`; `NOT`;
//! comparisons and `IN`; `+ -`; `* / %`; unary `-`; postfix `.name` and `[index]`.

use crate::SqlVersion;
use crate::ast::{CastType, Expr, Projection, SelectItem, Subquery};
use crate::error::{ParseError, ParseErrorKind, Position};
use crate::functions;
use crate::lexer::{Spanned, Token, tokenize};
use crate::value::{BinaryOp, Value};

/// The tallest expression tree accepted; evaluation recurses over the tree, so this bounds its
/// stack use.
const MAX_TREE_DEPTH: usize = 100;

/// How deeply expressions may nest (parentheses, calls, prefix operators) while parsing. The
/// canonical printing of a tree parenthesizes every operator, costing at most two levels per
/// tree level, so any accepted tree's printed form parses again.
const MAX_NESTING: usize = 2 * MAX_TREE_DEPTH + 8;

/// Words that cannot name a field.
const RESERVED: &[&str] = &[
    "SELECT", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "CASE", "WHEN", "THEN", "ELSE", "END",
    "IN", "TRUE", "FALSE", "NULL",
];

fn is_reserved(name: &str) -> bool {
    RESERVED.iter().any(|k| k.eq_ignore_ascii_case(name))
}

/// A statement as parsed, before it is wrapped in the public `Statement`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parsed {
    pub(crate) variables: Vec<(String, Expr)>,
    pub(crate) projection: Projection,
    pub(crate) from: Option<String>,
    pub(crate) condition: Option<Expr>,
}

pub(crate) struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Spanned>,
    pos: usize,
    version: SqlVersion,
    nesting: usize,
    /// Added to token offsets in errors: a template's expression starts inside a longer string.
    base: usize,
    /// The whole text positions are reported against.
    full: &'a str,
    /// SET variables assigned so far; `None` accepts any name (a template cannot know them).
    variables: Option<Vec<String>>,
}

impl std::fmt::Debug for Parser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parser").field("pos", &self.pos).finish()
    }
}

impl<'a> Parser<'a> {
    /// A parser over `text`, which starts at byte `base` of `full` (for error positions).
    pub(crate) fn new(
        full: &'a str,
        base: usize,
        text: &'a str,
        version: SqlVersion,
    ) -> Result<Self, ParseError> {
        let tokens = tokenize(text).map_err(|(at, kind)| ParseError {
            at: Position::locate(full, base + at),
            kind,
        })?;
        Ok(Parser {
            text,
            tokens,
            pos: 0,
            version,
            nesting: 0,
            base,
            full,
            variables: Some(Vec::new()),
        })
    }

    /// Accepts any `@name`: a substitution template is parsed apart from its statement.
    pub(crate) fn allow_any_variable(mut self) -> Self {
        self.variables = None;
        self
    }

    fn peek(&self) -> &Token {
        self.peek_at(0)
    }

    fn peek_at(&self, n: usize) -> &Token {
        self.tokens
            .get(self.pos + n)
            .or_else(|| self.tokens.last())
            .map_or(&Token::Eof, |s| &s.token)
    }

    fn start(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map_or(self.text.len(), |s| s.start)
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    fn error_at(&self, start: usize, kind: ParseErrorKind) -> ParseError {
        ParseError {
            at: Position::locate(self.full, self.base + start),
            kind,
        }
    }

    fn expected(&self, expected: &'static str) -> ParseError {
        self.error_at(
            self.start(),
            ParseErrorKind::Expected {
                expected,
                found: self.peek().describe(),
            },
        )
    }

    fn expect(&mut self, token: &Token, expected: &'static str) -> Result<(), ParseError> {
        if self.peek() == token {
            self.advance();
            Ok(())
        } else {
            Err(self.expected(expected))
        }
    }

    fn expect_keyword(&mut self, kw: &str, expected: &'static str) -> Result<(), ParseError> {
        if self.peek().is_keyword(kw) {
            self.advance();
            Ok(())
        } else {
            Err(self.expected(expected))
        }
    }

    /// Refuses syntax that 2015-10-08 does not have.
    fn require_2016(&self, start: usize, feature: &'static str) -> Result<(), ParseError> {
        if self.version == SqlVersion::V2015_10_08 {
            Err(self.error_at(start, ParseErrorKind::RequiresVersion2016(feature)))
        } else {
            Ok(())
        }
    }

    fn check_depth(&self, start: usize, expr: &Expr) -> Result<(), ParseError> {
        if expr.depth() > MAX_TREE_DEPTH {
            Err(self.error_at(start, ParseErrorKind::TooDeep))
        } else {
            Ok(())
        }
    }

    /// `SELECT … [FROM '…'] [WHERE …]` and the end of input.
    pub(crate) fn statement(&mut self) -> Result<Parsed, ParseError> {
        let variables = if self.peek().is_keyword("SET") {
            self.require_2016(self.start(), "the SET clause")?;
            self.advance();
            self.assignments()?
        } else {
            Vec::new()
        };
        self.expect_keyword("SELECT", "SELECT")?;
        let projection = self.projection()?;
        let from = if self.peek().is_keyword("FROM") {
            self.advance();
            let start = self.start();
            match self.advance() {
                Token::Str { text, double } => {
                    if double {
                        self.require_2016(start, "a double-quoted string")?;
                    }
                    Some(text)
                }
                _ => {
                    self.pos -= 1;
                    return Err(self.expected("a quoted topic filter"));
                }
            }
        } else {
            None
        };
        let condition = if self.peek().is_keyword("WHERE") {
            self.advance();
            Some(self.expression()?)
        } else {
            None
        };
        if *self.peek() != Token::Eof {
            let expected = match (&from, &condition) {
                (None, None) => "',', FROM, WHERE or end of statement",
                (Some(_), None) => "WHERE or end of statement",
                _ => "an operator or end of statement",
            };
            return Err(self.expected(expected));
        }
        Ok(Parsed {
            variables,
            projection,
            from,
            condition,
        })
    }

    /// One expression and the end of input (a substitution template's `${…}`).
    pub(crate) fn lone_expression(&mut self) -> Result<Expr, ParseError> {
        let expr = self.expression()?;
        if *self.peek() != Token::Eof {
            return Err(self.expected("an operator or '}'"));
        }
        Ok(expr)
    }

    /// `@a = expr, @b = expr, …` after `SET`; each may use the ones before it.
    fn assignments(&mut self) -> Result<Vec<(String, Expr)>, ParseError> {
        let mut assignments = Vec::new();
        loop {
            let at = self.start();
            let name = match self.advance() {
                Token::Variable(name) => name,
                _ => {
                    self.pos -= 1;
                    return Err(self.expected("a variable (@name)"));
                }
            };
            self.check_variable_name(at, &name)?;
            if assignments.iter().any(|(n, _)| *n == name) {
                return Err(self.error_at(at, ParseErrorKind::VariableReassigned(name)));
            }
            self.expect(&Token::Eq, "'='")?;
            let value = self.expression()?;
            if let Some(defined) = &mut self.variables {
                defined.push(name.clone());
            }
            assignments.push((name, value));
            if *self.peek() == Token::Comma {
                self.advance();
            } else {
                return Ok(assignments);
            }
        }
    }

    fn check_variable_name(&self, at: usize, name: &str) -> Result<(), ParseError> {
        if name.is_empty() || name.len() > 64 {
            return Err(self.error_at(at, ParseErrorKind::InvalidVariableName(name.to_owned())));
        }
        Ok(())
    }

    /// What follows `SELECT`: `VALUE expr` or a list of items.
    fn projection(&mut self) -> Result<Projection, ParseError> {
        Ok(if self.value_keyword_follows() {
            self.advance();
            Projection::Value(self.expression()?)
        } else {
            Projection::Items(self.select_items()?)
        })
    }

    /// `(SELECT … FROM expr [WHERE …])`, after `(`.
    fn subquery(&mut self) -> Result<Expr, ParseError> {
        self.require_2016(self.start(), "a nested SELECT query")?;
        self.expect_keyword("SELECT", "SELECT")?;
        let projection = self.projection()?;
        self.expect_keyword("FROM", "FROM in a nested query")?;
        let source = self.expression()?;
        let condition = if self.peek().is_keyword("WHERE") {
            self.advance();
            Some(self.expression()?)
        } else {
            None
        };
        self.expect(&Token::RParen, "WHERE or ')'")?;
        Ok(Expr::Subquery(Box::new(Subquery {
            projection,
            source,
            condition,
        })))
    }

    /// Whether `VALUE` after `SELECT` is the keyword rather than a field named `value`.
    fn value_keyword_follows(&self) -> bool {
        if !self.peek().is_keyword("VALUE") {
            return false;
        }
        match self.peek_at(1) {
            Token::Ident(name) => {
                !is_reserved(name)
                    || ["NOT", "CASE", "TRUE", "FALSE", "NULL"]
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(name))
            }
            Token::Number(_)
            | Token::Str { .. }
            | Token::LParen
            | Token::LBracket
            | Token::LBrace
            | Token::Minus => true,
            Token::Star => {
                matches!(self.peek_at(2), Token::Eof)
                    || self.peek_at(2).is_keyword("FROM")
                    || self.peek_at(2).is_keyword("WHERE")
            }
            _ => false,
        }
    }

    fn select_items(&mut self) -> Result<Vec<SelectItem>, ParseError> {
        let mut items = Vec::new();
        loop {
            let next = self.peek_at(1);
            let lone_star = *self.peek() == Token::Star
                && (matches!(next, Token::Comma | Token::Eof)
                    || next.is_keyword("FROM")
                    || next.is_keyword("WHERE"));
            if lone_star {
                self.advance();
                items.push(SelectItem::All);
            } else {
                let start = self.start();
                let expr = self.expression()?;
                let key = if self.peek().is_keyword("AS") {
                    self.advance();
                    match self.advance() {
                        Token::Ident(name) if !is_reserved(&name) => name,
                        Token::Str { text, double } => {
                            if double {
                                self.require_2016(start, "a double-quoted string")?;
                            }
                            text
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.expected("a name after AS"));
                        }
                    }
                } else {
                    self.default_key(&expr, start, items.len() + 1)
                };
                items.push(SelectItem::Expr { expr, key });
            }
            if *self.peek() == Token::Comma {
                self.advance();
            } else {
                return Ok(items);
            }
        }
    }

    /// The output key of an unaliased item: a path's last segment, a call's function name as
    /// written, otherwise `_<position>` (AWS's choice for other expressions is undocumented).
    fn default_key(&self, expr: &Expr, start: usize, position: usize) -> String {
        match expr {
            Expr::Ident(name) | Expr::Field(_, name) => name.clone(),
            Expr::Call(..) | Expr::Cast(..) => self
                .tokens
                .iter()
                .find(|t| t.start == start)
                .and_then(|t| match &t.token {
                    Token::Ident(name) => Some(name.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| format!("_{position}")),
            _ => format!("_{position}"),
        }
    }

    pub(crate) fn expression(&mut self) -> Result<Expr, ParseError> {
        self.binary(0)
    }

    fn binary_op(&self) -> Option<(BinaryOp, u8)> {
        Some(match self.peek() {
            t if t.is_keyword("OR") => (BinaryOp::Or, 1),
            t if t.is_keyword("AND") => (BinaryOp::And, 2),
            t if t.is_keyword("IN") => (BinaryOp::In, 4),
            Token::Eq => (BinaryOp::Eq, 4),
            Token::Ne => (BinaryOp::Ne, 4),
            Token::Lt => (BinaryOp::Lt, 4),
            Token::Le => (BinaryOp::Le, 4),
            Token::Gt => (BinaryOp::Gt, 4),
            Token::Ge => (BinaryOp::Ge, 4),
            Token::Plus => (BinaryOp::Add, 5),
            Token::Minus => (BinaryOp::Sub, 5),
            Token::Star => (BinaryOp::Mul, 6),
            Token::Slash => (BinaryOp::Div, 6),
            Token::Percent => (BinaryOp::Rem, 6),
            _ => return None,
        })
    }

    /// Operators binding tighter than `min` and their operands, left-associatively.
    fn binary(&mut self, min: u8) -> Result<Expr, ParseError> {
        let start = self.start();
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.error_at(start, ParseErrorKind::TooDeep));
        }
        let mut lhs = self.prefix()?;
        while let Some((op, power)) = self.binary_op() {
            if power <= min {
                break;
            }
            self.advance();
            let rhs = self.binary(power)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
            self.check_depth(start, &lhs)?;
        }
        self.check_depth(start, &lhs)?;
        self.nesting -= 1;
        Ok(lhs)
    }

    fn prefix(&mut self) -> Result<Expr, ParseError> {
        if *self.peek() == Token::Minus {
            self.advance();
            return Ok(Expr::Neg(Box::new(self.binary(6)?)));
        }
        if self.peek().is_keyword("NOT") {
            self.advance();
            return Ok(Expr::Not(Box::new(self.binary(3)?)));
        }
        let start = self.start();
        let primary = self.primary()?;
        self.postfix(primary, start)
    }

    fn postfix(&mut self, mut expr: Expr, start: usize) -> Result<Expr, ParseError> {
        loop {
            let at = self.start();
            match self.peek() {
                Token::Dot => {
                    if !expr.is_path() {
                        self.require_2016(at, "'.' on an expression other than a field path")?;
                    }
                    self.advance();
                    match self.advance() {
                        Token::Ident(name) => expr = Expr::Field(Box::new(expr), name),
                        _ => {
                            self.pos -= 1;
                            return Err(self.expected("a field name after '.'"));
                        }
                    }
                }
                Token::LBracket => {
                    self.require_2016(at, "'[ ]' indexing")?;
                    self.advance();
                    let index = self.expression()?;
                    self.expect(&Token::RBracket, "']'")?;
                    expr = Expr::Index(Box::new(expr), Box::new(index));
                }
                _ => return Ok(expr),
            }
            self.check_depth(start, &expr)?;
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let start = self.start();
        match self.advance() {
            Token::Number(text) => self.number(&text, start),
            Token::Str { text, double } => {
                if double {
                    self.require_2016(start, "a double-quoted string")?;
                }
                Ok(Expr::Literal(Value::String(text)))
            }
            Token::Star => Ok(Expr::Payload),
            Token::LParen => {
                if self.peek().is_keyword("SELECT") {
                    return self.subquery();
                }
                let inner = self.expression()?;
                self.expect(&Token::RParen, "')'")?;
                Ok(inner)
            }
            Token::LBracket => {
                self.require_2016(start, "an array literal")?;
                let items = self.list(&Token::RBracket, "',' or ']'")?;
                Ok(Expr::Array(items))
            }
            Token::LBrace => {
                self.require_2016(start, "an object literal")?;
                self.object()
            }
            Token::Ident(name) => self.name(name, start),
            Token::Variable(name) => {
                self.check_variable_name(start, &name)?;
                self.require_2016(start, "a SET variable")?;
                match &self.variables {
                    Some(defined) if !defined.contains(&name) => {
                        Err(self.error_at(start, ParseErrorKind::UndefinedVariable(name)))
                    }
                    _ => Ok(Expr::Variable(name)),
                }
            }
            _ => {
                self.pos -= 1;
                Err(self.expected("an expression"))
            }
        }
    }

    fn number(&self, text: &str, start: usize) -> Result<Expr, ParseError> {
        let malformed = || self.error_at(start, ParseErrorKind::MalformedNumber(text.to_owned()));
        if text.bytes().all(|b| b.is_ascii_digit())
            && let Ok(i) = text.parse::<i64>()
        {
            return Ok(Expr::Literal(Value::Int(i)));
        }
        let d = text
            .parse::<crate::decimal::Decimal>()
            .map_err(|_| malformed())?;
        Ok(Expr::Literal(Value::decimal_for(d, self.version)))
    }

    /// Items up to `close`, separated by commas; `close` is consumed.
    fn list(&mut self, close: &Token, expected: &'static str) -> Result<Vec<Expr>, ParseError> {
        let mut items = Vec::new();
        if self.peek() == close {
            self.advance();
            return Ok(items);
        }
        loop {
            items.push(self.expression()?);
            if *self.peek() == Token::Comma {
                self.advance();
            } else if self.peek() == close {
                self.advance();
                return Ok(items);
            } else {
                return Err(self.expected(expected));
            }
        }
    }

    fn object(&mut self) -> Result<Expr, ParseError> {
        let mut members = Vec::new();
        if *self.peek() == Token::RBrace {
            self.advance();
            return Ok(Expr::Object(members));
        }
        loop {
            let key = match self.advance() {
                Token::Str { text, .. } | Token::Ident(text) => text,
                _ => {
                    self.pos -= 1;
                    return Err(self.expected("a quoted key"));
                }
            };
            self.expect(&Token::Colon, "':'")?;
            members.push((key, self.expression()?));
            match self.advance() {
                Token::Comma => {}
                Token::RBrace => return Ok(Expr::Object(members)),
                _ => {
                    self.pos -= 1;
                    return Err(self.expected("',' or '}'"));
                }
            }
        }
    }

    /// A name: a literal keyword, `CASE`, a function call or a field.
    fn name(&mut self, name: String, start: usize) -> Result<Expr, ParseError> {
        let upper = name.to_ascii_uppercase();
        match upper.as_str() {
            "TRUE" => return Ok(Expr::Literal(Value::Bool(true))),
            "FALSE" => return Ok(Expr::Literal(Value::Bool(false))),
            "NULL" => return Ok(Expr::Literal(Value::Null)),
            "CASE" => return self.case(),
            _ if is_reserved(&name) => {
                self.pos -= 1;
                return Err(self.expected("an expression"));
            }
            _ => {}
        }
        if *self.peek() != Token::LParen {
            return Ok(Expr::Ident(name));
        }
        self.advance();
        if upper == "CAST" {
            return self.cast();
        }
        let function = functions::lookup(&name).map_err(|kind| self.error_at(start, kind))?;
        if self.version == SqlVersion::V2015_10_08 && function.since() == SqlVersion::V2016_03_23 {
            return Err(self.error_at(
                start,
                ParseErrorKind::RequiresVersion2016(function.name_with_parens()),
            ));
        }
        let args = self.list(&Token::RParen, "',' or ')'")?;
        let (min, max, expected) = function.arity();
        if args.len() < min || args.len() > max {
            return Err(self.error_at(
                start,
                ParseErrorKind::WrongArgumentCount {
                    name,
                    expected,
                    found: args.len(),
                },
            ));
        }
        Ok(Expr::Call(function, args))
    }

    /// `cast(x AS type)`, after `cast(`.
    fn cast(&mut self) -> Result<Expr, ParseError> {
        let value = self.expression()?;
        self.expect_keyword("AS", "AS")?;
        let at = self.start();
        let ty = match self.advance() {
            Token::Ident(ty) => CastType::parse(&ty)
                .ok_or_else(|| self.error_at(at, ParseErrorKind::UnknownCastType(ty)))?,
            _ => {
                self.pos -= 1;
                return Err(self.expected("a type name"));
            }
        };
        if ty.since() == SqlVersion::V2016_03_23 {
            self.require_2016(at, "cast to Decimal or Boolean")?;
        }
        self.expect(&Token::RParen, "')'")?;
        Ok(Expr::Cast(Box::new(value), ty))
    }

    /// `CASE v WHEN t THEN r … [ELSE e] END`, after `CASE`.
    fn case(&mut self) -> Result<Expr, ParseError> {
        if self.peek().is_keyword("WHEN") {
            return Err(self.error_at(
                self.start(),
                ParseErrorKind::Unsupported("CASE without a value (the searched form)"),
            ));
        }
        let operand = Box::new(self.expression()?);
        let mut arms = Vec::new();
        while self.peek().is_keyword("WHEN") {
            self.advance();
            let when = self.expression()?;
            self.expect_keyword("THEN", "THEN")?;
            arms.push((when, self.expression()?));
        }
        if arms.is_empty() {
            return Err(self.expected("WHEN"));
        }
        let otherwise = if self.peek().is_keyword("ELSE") {
            self.advance();
            Some(Box::new(self.expression()?))
        } else {
            None
        };
        self.expect_keyword("END", "WHEN, ELSE or END")?;
        Ok(Expr::Case {
            operand,
            arms,
            otherwise,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str, version: SqlVersion) -> Result<Parsed, ParseError> {
        Parser::new(sql, 0, sql, version)?.statement()
    }

    fn expr16(text: &str) -> Expr {
        Parser::new(text, 0, text, SqlVersion::V2016_03_23)
            .unwrap()
            .lone_expression()
            .unwrap()
    }

    fn err(sql: &str, version: SqlVersion) -> String {
        parse(sql, version).unwrap_err().to_string()
    }

    const V15: SqlVersion = SqlVersion::V2015_10_08;
    const V16: SqlVersion = SqlVersion::V2016_03_23;

    #[test]
    fn a_full_statement_parses_into_projection_filter_and_condition() {
        let p = parse(
            "SELECT temp * 1.8 + 32 AS tempF, topic(2) AS device FROM 'sensors/+/telemetry' WHERE temp > 30",
            V16,
        )
        .unwrap();
        assert_eq!(p.from.as_deref(), Some("sensors/+/telemetry"));
        let Projection::Items(items) = &p.projection else {
            panic!("items")
        };
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[0],
            SelectItem::Expr {
                expr: expr16("temp * 1.8 + 32"),
                key: "tempF".into()
            }
        );
        assert_eq!(p.condition, Some(expr16("temp > 30")));
    }

    #[test]
    fn multiplication_binds_tighter_than_addition_and_and_tighter_than_or() {
        assert_eq!(expr16("1 + 2 * 3").to_string(), "(1 + (2 * 3))");
        assert_eq!(
            expr16("a OR b AND NOT c = d").to_string(),
            "(a OR (b AND (NOT (c = d))))"
        );
        assert_eq!(expr16("-a * b").to_string(), "((-a) * b)");
        assert_eq!(expr16("1 - 2 - 3").to_string(), "((1 - 2) - 3)");
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert!(parse("select a as b from 't' where a > 1 and not b", V15).is_ok());
    }

    #[test]
    fn unaliased_items_are_keyed_by_last_segment_or_function_name() {
        let p = parse("SELECT a.b.c, clientid(), a + 1 FROM 't'", V15).unwrap();
        let Projection::Items(items) = p.projection else {
            panic!()
        };
        let keys: Vec<_> = items
            .iter()
            .map(|i| match i {
                SelectItem::Expr { key, .. } => key.clone(),
                SelectItem::All => "*".into(),
            })
            .collect();
        assert_eq!(keys, ["c", "clientid", "_3"]);
    }

    #[test]
    fn select_star_with_extra_items_and_select_value_parse() {
        let p = parse("SELECT *, topic() AS t FROM 'a/#'", V15).unwrap();
        assert!(matches!(&p.projection, Projection::Items(i) if i[0] == SelectItem::All));
        let p = parse("SELECT VALUE a.b FROM 'x'", V15).unwrap();
        assert_eq!(p.projection, Projection::Value(expr16("a.b")));
        let p = parse("SELECT value FROM 'x'", V15).unwrap();
        assert!(matches!(p.projection, Projection::Items(_)));
    }

    #[test]
    fn from_and_where_are_optional() {
        let p = parse("SELECT *", V15).unwrap();
        assert_eq!(p.from, None);
        assert_eq!(p.condition, None);
    }

    #[test]
    fn newer_syntax_is_refused_under_2015_10_08() {
        for (sql, feature) in [
            ("SELECT [1, 2] AS a FROM 't'", "an array literal"),
            ("SELECT {'a': 1} AS a FROM 't'", "an object literal"),
            ("SELECT a[0] AS a FROM 't'", "'[ ]' indexing"),
            ("SELECT \"x\" AS a FROM 't'", "a double-quoted string"),
            (
                "SELECT get(a, 'b').c AS a FROM 't'",
                "'.' on an expression other than a field path",
            ),
            ("SELECT encode(*, 'base64') AS a FROM 't'", "encode()"),
            (
                "SELECT cast(a AS Decimal) AS a FROM 't'",
                "cast to Decimal or Boolean",
            ),
        ] {
            let e = err(sql, V15);
            assert!(
                e.ends_with(&format!("{feature} requires awsIotSqlVersion 2016-03-23")),
                "{sql}: {e}"
            );
            assert!(parse(sql, V16).is_ok(), "{sql}");
        }
    }

    #[test]
    fn errors_name_the_position_and_what_was_expected() {
        assert_eq!(
            err("SELECT a FROM 't' WHERE", V15),
            "line 1, column 24: expected an expression, found end of input"
        );
        assert_eq!(
            err("SELECT a,\n  b c FROM 't'", V15),
            "line 2, column 5: expected ',', FROM, WHERE or end of statement, found 'c'"
        );
        assert_eq!(
            err("SELECT a FROM topic", V15),
            "line 1, column 15: expected a quoted topic filter, found 'topic'"
        );
        assert_eq!(
            err("FROM 't'", V15),
            "line 1, column 1: expected SELECT, found 'FROM'"
        );
        assert_eq!(
            err("SELECT (a FROM 't'", V15),
            "line 1, column 11: expected ')', found 'FROM'"
        );
    }

    #[test]
    fn unknown_functions_and_wrong_argument_counts_are_parse_errors() {
        assert_eq!(
            err("SELECT frobnicate(a) FROM 't'", V16),
            "line 1, column 8: unknown function frobnicate()"
        );
        assert_eq!(
            err("SELECT upper(a, b) FROM 't'", V16),
            "line 1, column 8: function upper() takes 1 argument(s), found 2"
        );
        assert!(err("SELECT md5(a) FROM 't'", V16).contains("not supported"));
    }

    #[test]
    fn function_names_are_case_insensitive() {
        assert!(parse("SELECT isUndefined(a), UPPER(b), ClientId() FROM 't'", V16).is_ok());
    }

    #[test]
    fn case_takes_the_simple_form_only() {
        assert_eq!(
            expr16("CASE a WHEN 1 THEN 'x' WHEN 2 THEN 'y' ELSE 'z' END").to_string(),
            "CASE a WHEN 1 THEN 'x' WHEN 2 THEN 'y' ELSE 'z' END"
        );
        assert!(err("SELECT CASE WHEN a THEN 1 END FROM 't'", V16).contains("searched form"));
        assert!(err("SELECT CASE a END FROM 't'", V16).contains("expected WHEN"));
    }

    #[test]
    fn cast_names_its_type() {
        assert_eq!(
            expr16("CAST(a AS varchar)").to_string(),
            "cast(a AS String)"
        );
        assert!(err("SELECT cast(a AS Blob) FROM 't'", V16).contains("unknown type Blob"));
    }

    #[test]
    fn literals_of_2016_parse() {
        assert_eq!(
            expr16("{'a': [1, 2.5, \"s\", true, null], b: -1}").to_string(),
            "{'a': [1, 2.5, 's', true, null], 'b': (-1)}"
        );
        assert_eq!(expr16("10.0"), Expr::Literal(Value::Int(10)));
        assert_eq!(
            expr16("99999999999999999999").to_string(),
            "99999999999999999999.0"
        );
    }

    #[test]
    fn whole_decimal_literals_stay_decimal_in_2015() {
        let p = parse("SELECT VALUE 10.0", V15).unwrap();
        assert!(matches!(
            p.projection,
            Projection::Value(Expr::Literal(Value::Decimal(_)))
        ));
    }

    #[test]
    fn set_and_nested_select_under_2015_are_refused_clearly() {
        assert!(err("SELECT (SELECT v FROM e) AS x FROM 't'", V15).contains("nested SELECT"));
        assert!(err("SELECT (SELECT v) AS x FROM 't'", V16).contains("expected FROM"));
        assert!(err("SET @a = 1 SELECT @a FROM 't'", V15).contains("SET clause"));
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let deep = format!(
            "SELECT {}1{} FROM 't'",
            "(".repeat(10_000),
            ")".repeat(10_000)
        );
        assert!(err(&deep, V16).contains("nested too deeply"));
        let long = format!("SELECT {} FROM 't'", vec!["a"; 10_000].join(" + "));
        assert!(err(&long, V16).contains("nested too deeply"));
        let path = format!("SELECT a{} FROM 't'", ".b".repeat(10_000));
        assert!(err(&path, V16).contains("nested too deeply"));
        let minus = format!("SELECT {}1 FROM 't'", "- ".repeat(10_000));
        assert!(err(&minus, V16).contains("nested too deeply"));
    }

    #[test]
    fn the_deepest_accepted_trees_print_to_sql_that_parses_again() {
        for sql in [
            format!("{}1", "- ".repeat(MAX_TREE_DEPTH - 1)),
            format!(
                "{}1{}",
                "upper(".repeat(MAX_TREE_DEPTH - 1),
                ")".repeat(MAX_TREE_DEPTH - 1)
            ),
            vec!["1"; MAX_TREE_DEPTH].join(" - "),
            format!(
                "1{}",
                " - (1".repeat(MAX_TREE_DEPTH - 1) + &")".repeat(MAX_TREE_DEPTH - 1)
            ),
            format!("a{}", "[0]".repeat(MAX_TREE_DEPTH - 1)),
        ] {
            let parsed = Parser::new(&sql, 0, &sql, V16)
                .unwrap()
                .lone_expression()
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            let printed = parsed.to_string();
            let reparsed = Parser::new(&printed, 0, &printed, V16)
                .unwrap()
                .lone_expression()
                .unwrap_or_else(|e| panic!("{printed}: {e}"));
            assert_eq!(reparsed, parsed);
        }
    }

    #[test]
    fn set_assigns_variables_that_later_clauses_use() {
        let p = parse(
            "SET @c = (f - 32) * 5 / 9, @o = {'c': @c} SELECT @c AS c, @o.c AS oc FROM 't' WHERE @c > 0",
            V16,
        )
        .unwrap();
        assert_eq!(p.variables.len(), 2);
        assert_eq!(p.variables[1].1.to_string(), "{'c': @c}");
    }

    #[test]
    fn variables_must_be_assigned_once_and_before_use() {
        assert_eq!(
            err("SELECT @a FROM 't'", V16),
            "line 1, column 8: variable @a is not defined by the SET clause before this point"
        );
        assert!(err("SET @a = @b, @b = 1 SELECT 1 FROM 't'", V16).contains("@b is not defined"));
        assert!(err("SET @a = 1, @a = 2 SELECT 1 FROM 't'", V16).contains("already assigned"));
        assert!(err("SET @ = 1 SELECT 1 FROM 't'", V16).contains("invalid variable name"));
        let long = format!("SET @{} = 1 SELECT 1 FROM 't'", "v".repeat(65));
        assert!(err(&long, V16).contains("invalid variable name"));
        assert!(err("SET a = 1 SELECT 1", V16).contains("expected a variable (@name)"));
    }

    #[test]
    fn keywords_cannot_name_fields() {
        assert!(err("SELECT from FROM 't'", V15).contains("expected an expression"));
        assert!(parse("SELECT a.from AS x FROM 't'", V15).is_ok());
    }
}
