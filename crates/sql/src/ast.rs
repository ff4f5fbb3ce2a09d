//! The parsed form of a statement, and how it prints back as SQL.

use std::fmt;

use crate::SqlVersion;
use crate::functions::Function;
use crate::value::{BinaryOp, Value};

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// A scalar literal: Int, Decimal, String, Boolean or Null.
    Literal(Value),
    /// `*` inside an expression (`get(*, 'k')`, `encode(*, 'base64')`): the whole payload.
    Payload,
    /// A top-level payload field, `temp`.
    Ident(String),
    /// A SET variable, `@name` (2016-03-23).
    Variable(String),
    /// `base.name`.
    Field(Box<Expr>, String),
    /// `base[index]`.
    Index(Box<Expr>, Box<Expr>),
    /// `-x`.
    Neg(Box<Expr>),
    /// `NOT x`.
    Not(Box<Expr>),
    /// `a op b`.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `f(args)`.
    Call(Function, Vec<Expr>),
    /// `cast(x AS type)`.
    Cast(Box<Expr>, CastType),
    /// `CASE v WHEN t THEN r … [ELSE e] END`.
    Case {
        operand: Box<Expr>,
        arms: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    /// `{'k': v, …}` (2016-03-23).
    Object(Vec<(String, Expr)>),
    /// `[a, b, …]` (2016-03-23).
    Array(Vec<Expr>),
    /// `(SELECT … FROM array [WHERE …])` (2016-03-23): the projection of each element that
    /// passes the condition, as an array.
    Subquery(Box<Subquery>),
}

/// A nested query, iterating an array. Inside it, field names and `*` refer to the element.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Subquery {
    pub(crate) projection: Projection,
    pub(crate) source: Expr,
    pub(crate) condition: Option<Expr>,
}

impl Expr {
    /// Whether this is a plain path `a.b.c`, which 2015-10-08 accepts.
    pub(crate) fn is_path(&self) -> bool {
        match self {
            Expr::Ident(_) | Expr::Variable(_) => true,
            Expr::Field(base, _) => base.is_path(),
            _ => false,
        }
    }
}

/// The target type of `cast`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CastType {
    String,
    Int,
    Double,
    Decimal,
    Bool,
}

impl CastType {
    /// Reads a type name, in any case; `None` for names AWS does not have.
    pub(crate) fn parse(name: &str) -> Option<CastType> {
        let lower = name.to_ascii_lowercase();
        Some(match lower.as_str() {
            "string" | "varchar" | "varchar2" | "nvarchar" | "nvarchar2" | "char" | "text" => {
                CastType::String
            }
            "int" | "integer" => CastType::Int,
            "double" => CastType::Double,
            "decimal" => CastType::Decimal,
            "bool" | "boolean" => CastType::Bool,
            _ => return None,
        })
    }

    /// The first version that accepts this target.
    pub(crate) fn since(self) -> SqlVersion {
        match self {
            CastType::Decimal | CastType::Bool => SqlVersion::V2016_03_23,
            _ => SqlVersion::V2015_10_08,
        }
    }

    fn name(self) -> &'static str {
        match self {
            CastType::String => "String",
            CastType::Int => "Int",
            CastType::Double => "Double",
            CastType::Decimal => "Decimal",
            CastType::Bool => "Boolean",
        }
    }
}

/// Writes `s` as a single-quoted SQL string the lexer reads back unchanged.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn comma_separated<T>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    mut each: impl FnMut(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        each(f, item)?;
    }
    Ok(())
}

impl fmt::Display for Expr {
    /// Canonical SQL, fully parenthesized, which parses back to the same expression.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Literal(v) => match v {
                Value::String(s) => f.write_str(&quote(s)),
                Value::Int(i) => write!(f, "{i}"),
                Value::Decimal(d) => write!(f, "{d}"),
                Value::Bool(b) => write!(f, "{b}"),
                _ => f.write_str("null"),
            },
            Expr::Payload => f.write_str("*"),
            Expr::Ident(name) => f.write_str(name),
            Expr::Variable(name) => write!(f, "@{name}"),
            Expr::Field(base, name) if base.is_path() => write!(f, "{base}.{name}"),
            Expr::Field(base, name) => write!(f, "({base}).{name}"),
            Expr::Index(base, index) if base.is_path() => write!(f, "{base}[{index}]"),
            Expr::Index(base, index) => write!(f, "({base})[{index}]"),
            Expr::Neg(x) => write!(f, "(-{x})"),
            Expr::Not(x) => write!(f, "(NOT {x})"),
            Expr::Binary(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            Expr::Call(function, args) => {
                write!(f, "{}(", function.name())?;
                comma_separated(f, args, |f, a| write!(f, "{a}"))?;
                f.write_str(")")
            }
            Expr::Cast(x, ty) => write!(f, "cast({x} AS {})", ty.name()),
            Expr::Case {
                operand,
                arms,
                otherwise,
            } => {
                write!(f, "CASE {operand}")?;
                for (when, then) in arms {
                    write!(f, " WHEN {when} THEN {then}")?;
                }
                if let Some(e) = otherwise {
                    write!(f, " ELSE {e}")?;
                }
                f.write_str(" END")
            }
            Expr::Object(members) => {
                f.write_str("{")?;
                comma_separated(f, members, |f, (k, v)| write!(f, "{}: {v}", quote(k)))?;
                f.write_str("}")
            }
            Expr::Array(items) => {
                f.write_str("[")?;
                comma_separated(f, items, |f, v| write!(f, "{v}"))?;
                f.write_str("]")
            }
            Expr::Subquery(q) => {
                write!(f, "(SELECT {} FROM {}", q.projection, q.source)?;
                if let Some(c) = &q.condition {
                    write!(f, " WHERE {c}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// One item of a SELECT list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SelectItem {
    /// `*`: the payload's keys.
    All,
    /// `expr [AS alias]`, with the output key already decided.
    Expr { expr: Expr, key: String },
}

/// What the SELECT clause produces.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Projection {
    /// `SELECT VALUE expr`: the bare value.
    Value(Expr),
    /// `SELECT items`: an object (or the payload itself for a lone `*`).
    Items(Vec<SelectItem>),
}

impl Projection {
    pub(crate) fn exprs(&self) -> Vec<&Expr> {
        match self {
            Projection::Value(e) => vec![e],
            Projection::Items(items) => items
                .iter()
                .filter_map(|i| match i {
                    SelectItem::All => None,
                    SelectItem::Expr { expr, .. } => Some(expr),
                })
                .collect(),
        }
    }
}

impl fmt::Display for Projection {
    /// What follows `SELECT`. Every item is aliased, and the first is parenthesized so that an
    /// item such as `value[0]` cannot read as `SELECT VALUE [0]`; the parser drops the
    /// parentheses again.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Projection::Value(expr) => write!(f, "VALUE {expr}"),
            Projection::Items(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match item {
                        SelectItem::All => f.write_str("*")?,
                        SelectItem::Expr { expr, key } if i == 0 => {
                            write!(f, "({expr}) AS {}", quote(key))?;
                        }
                        SelectItem::Expr { expr, key } => write!(f, "{expr} AS {}", quote(key))?,
                    }
                }
                Ok(())
            }
        }
    }
}

impl Expr {
    /// The direct sub-expressions.
    pub(crate) fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Literal(_) | Expr::Payload | Expr::Ident(_) | Expr::Variable(_) => Vec::new(),
            Expr::Field(base, _) | Expr::Neg(base) | Expr::Not(base) | Expr::Cast(base, _) => {
                vec![base]
            }
            Expr::Index(a, b) | Expr::Binary(_, a, b) => vec![a, b],
            Expr::Call(_, args) | Expr::Array(args) => args.iter().collect(),
            Expr::Case {
                operand,
                arms,
                otherwise,
            } => {
                let mut all: Vec<&Expr> = vec![operand];
                for (w, t) in arms {
                    all.push(w);
                    all.push(t);
                }
                all.extend(otherwise.as_deref());
                all
            }
            Expr::Object(members) => members.iter().map(|(_, v)| v).collect(),
            Expr::Subquery(q) => {
                let mut all = q.projection.exprs();
                all.push(&q.source);
                all.extend(q.condition.as_ref());
                all
            }
        }
    }

    /// The height of the tree, measured without recursion so that it is safe on any input.
    pub(crate) fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(self, 1_usize)];
        while let Some((e, d)) = stack.pop() {
            deepest = deepest.max(d);
            stack.extend(e.children().into_iter().map(|c| (c, d + 1)));
        }
        deepest
    }
}
