//! Substitution templates: `${expr}` inside action fields such as a republish topic.

use crate::SqlVersion;
use crate::ast::Expr;
use crate::context::MessageContext;
use crate::error::{ParseError, ParseErrorKind, Position};
use crate::eval::{Scope, Variables};
use crate::parser::Parser;
use crate::value::Value;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Expr(Expr),
}

/// A string with `${expr}` substitutions, parsed once and rendered per message.
///
/// Each `${…}` holds any expression a SELECT could (AWS: "any SELECT expression"), evaluated
/// against the *incoming* message: the payload, `topic()`, `clientid()` and the rest, but not the
/// SELECT clause's aliases. There is no escape for a literal `${`.
#[derive(Debug, Clone, PartialEq)]
pub struct SubstitutionTemplate {
    parts: Vec<Part>,
    version: SqlVersion,
}

/// The byte offset of the `}` closing a `${` whose expression starts at `from`, skipping braces
/// inside quoted strings and nested object literals.
fn closing_brace(text: &str, from: usize) -> Option<usize> {
    let mut depth = 0_usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text.get(from..)?.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '{' => depth += 1,
            '}' if depth == 0 => return Some(from + i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

impl SubstitutionTemplate {
    /// Parses `template`; expressions follow the rule's SQL `version`. Errors give the position
    /// within the template string.
    pub fn parse(template: &str, version: SqlVersion) -> Result<Self, ParseError> {
        let mut parts = Vec::new();
        let mut rest_start = 0;
        while let Some(found) = template.get(rest_start..).and_then(|r| r.find("${")) {
            let open = rest_start + found;
            if open > rest_start {
                parts.push(Part::Text(
                    template
                        .get(rest_start..open)
                        .unwrap_or_default()
                        .to_owned(),
                ));
            }
            let inner_start = open + 2;
            let close = closing_brace(template, inner_start).ok_or_else(|| ParseError {
                at: Position::locate(template, open),
                kind: ParseErrorKind::UnterminatedSubstitution,
            })?;
            let inner = template.get(inner_start..close).unwrap_or_default();
            let expr = Parser::new(template, inner_start, inner, version)?
                .allow_any_variable()
                .lone_expression()?;
            parts.push(Part::Expr(expr));
            rest_start = close + 1;
        }
        if rest_start < template.len() {
            parts.push(Part::Text(
                template.get(rest_start..).unwrap_or_default().to_owned(),
            ));
        }
        Ok(SubstitutionTemplate { parts, version })
    }

    /// Whether the template has no `${…}` (an HTTP action's URL must be literal to create a
    /// destination from it).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// The template with each `${…}` replaced by its value: strings bare, numbers and Booleans
    /// printed, arrays and objects as JSON, `null` for Null and nothing for Undefined (AWS's
    /// behaviour for Undefined is unverified). SET variables are Undefined here; use
    /// [`render_with`](Self::render_with) for a rule whose statement has a SET clause.
    pub fn render(&self, ctx: &MessageContext) -> String {
        self.render_with(ctx, &Variables::default())
    }

    /// As [`render`](Self::render), with the SET variables of the rule's statement, from
    /// [`Statement::evaluate_with_variables`](crate::Statement::evaluate_with_variables), so that
    /// templates see the same values (one `newuuid()`) as the SELECT did.
    pub fn render_with(&self, ctx: &MessageContext, variables: &Variables) -> String {
        let scope = Scope::new(ctx, self.version, variables);
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Expr(expr) => match scope.eval(expr) {
                    Value::Undefined => {}
                    Value::Null => out.push_str("null"),
                    value => out.push_str(&value.to_sql_string().unwrap_or_default()),
                },
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V16: SqlVersion = SqlVersion::V2016_03_23;

    fn ctx() -> MessageContext {
        MessageContext::new(
            "sensors/dev1/telemetry",
            br#"{"temp":31,"tags":["a","b"],"meta":{"site":"lisbon"}}"#.to_vec(),
        )
        .with_client_id("client-7")
    }

    #[test]
    fn a_republish_topic_is_built_from_topic_segments_and_client_id() {
        let t = SubstitutionTemplate::parse("republish/${topic(2)}/${clientid()}", V16).unwrap();
        assert_eq!(t.render(&ctx()), "republish/dev1/client-7");
        assert!(!t.is_literal());
    }

    #[test]
    fn payload_fields_and_containers_are_stringified() {
        let t = SubstitutionTemplate::parse("${temp}|${tags}|${meta.site}|${meta}", V16).unwrap();
        assert_eq!(t.render(&ctx()), r#"31|["a","b"]|lisbon|{"site":"lisbon"}"#);
    }

    #[test]
    fn undefined_renders_as_nothing() {
        let t = SubstitutionTemplate::parse("a${missing}b", V16).unwrap();
        assert_eq!(t.render(&ctx()), "ab");
    }

    #[test]
    fn braces_inside_strings_and_object_literals_do_not_close_the_expression() {
        let t =
            SubstitutionTemplate::parse("${concat('}', 'x')}-${get({'k': 1}, 'k')}", V16).unwrap();
        assert_eq!(t.render(&ctx()), "}x-1");
    }

    #[test]
    fn a_literal_template_renders_unchanged() {
        let t = SubstitutionTemplate::parse("https://example.com/hook", V16).unwrap();
        assert!(t.is_literal());
        assert_eq!(t.render(&ctx()), "https://example.com/hook");
    }

    #[test]
    fn errors_point_into_the_template() {
        let e = SubstitutionTemplate::parse("abc/${topic(}", V16).unwrap_err();
        assert_eq!(e.at.column, 13);
        let e = SubstitutionTemplate::parse("abc/${topic()", V16).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::UnterminatedSubstitution);
        assert_eq!(e.at.column, 5);
        let e = SubstitutionTemplate::parse("x${}", V16).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1, column 4: expected an expression, found end of input"
        );
        let e = SubstitutionTemplate::parse("${a b}", V16).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1, column 5: expected an operator or '}', found 'b'"
        );
    }

    #[test]
    fn templates_read_set_variables_when_given_them() {
        let statement =
            crate::parse("SET @id = newuuid(), @o = {'k': 1} SELECT @id AS id", V16).unwrap();
        let ctx = ctx().with_environment(std::sync::Arc::new(crate::FixedEnvironment {
            uuid: "u-1".into(),
            now_ms: 0,
            random: 0.0,
        }));
        let evaluation = statement.evaluate_with_variables(&ctx).unwrap();
        let t = SubstitutionTemplate::parse("out/${@id}/${@o.k}", V16).unwrap();
        assert_eq!(t.render_with(&ctx, &evaluation.variables), "out/u-1/1");
        assert_eq!(t.render(&ctx), "out//");
    }

    #[test]
    fn templates_follow_the_sql_version() {
        assert!(
            SubstitutionTemplate::parse("${encode(*, 'base64')}", SqlVersion::V2015_10_08).is_err()
        );
    }
}
