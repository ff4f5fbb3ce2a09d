//! The crate's error types: one for parsing (with a position), one for evaluation.

use std::fmt;

/// Where in the SQL text a problem is. Line and column are 1-based and count characters;
/// `offset` is the 0-based character offset from the start of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// 0-based character offset.
    pub offset: usize,
}

impl Position {
    /// The position of byte `byte` in `text`.
    pub(crate) fn locate(text: &str, byte: usize) -> Position {
        let mut line = 1;
        let mut column = 1;
        let mut offset = 0;
        for (i, c) in text.char_indices() {
            if i >= byte {
                break;
            }
            offset += 1;
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        Position {
            line,
            column,
            offset,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A statement or substitution template that does not parse. Its `Display` is
/// `"<position>: <reason>"`, such as `line 1, column 24: expected an expression, found end of
/// input`, meant to be returned verbatim as `SqlParseException`'s message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {kind}")]
pub struct ParseError {
    /// Where the problem starts.
    pub at: Position,
    /// What the problem is.
    pub kind: ParseErrorKind,
}

/// What is wrong with a statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A character that starts no token.
    #[error("unexpected character {0:?}")]
    UnexpectedCharacter(char),

    /// `--` or `/*`: AWS IoT SQL has no comments, and reading `a -- b` as `a - (-b)` would
    /// silently change the rule.
    #[error("comments are not supported in AWS IoT SQL")]
    Comment,

    /// A string literal with no closing quote.
    #[error("unterminated string literal")]
    UnterminatedString,

    /// A number that does not read as one.
    #[error("malformed number {0:?}")]
    MalformedNumber(String),

    /// The grammar wanted something else here.
    #[error("expected {expected}, found {found}")]
    Expected {
        /// What would have been accepted.
        expected: &'static str,
        /// The token found, quoted, or `end of input`.
        found: String,
    },

    /// A function name AWS IoT SQL does not have.
    #[error("unknown function {0}()")]
    UnknownFunction(String),

    /// An AWS function this implementation refuses rather than get wrong.
    #[error("function {name}() is not supported: {reason}")]
    UnsupportedFunction {
        /// The function as written.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },

    /// A function called with the wrong number of arguments.
    #[error("function {name}() takes {expected} argument(s), found {found}")]
    WrongArgumentCount {
        /// The function as written.
        name: String,
        /// The accepted counts, such as `1` or `1 or 2`.
        expected: &'static str,
        /// The count given.
        found: usize,
    },

    /// A `cast` target type AWS does not have.
    #[error("unknown type {0} in cast")]
    UnknownCastType(String),

    /// Syntax that only the 2016-03-23 engine accepts, in a 2015-10-08 statement.
    #[error("{0} requires awsIotSqlVersion 2016-03-23")]
    RequiresVersion2016(&'static str),

    /// AWS syntax this implementation does not support yet.
    #[error("{0} is not supported")]
    Unsupported(&'static str),

    /// Expressions nested deeper than the parser allows.
    #[error("expression nested too deeply")]
    TooDeep,

    /// A `@name` that no earlier SET assignment defines.
    #[error("variable @{0} is not defined by the SET clause before this point")]
    UndefinedVariable(String),

    /// A SET variable assigned twice (variables are immutable).
    #[error("variable @{0} is already assigned")]
    VariableReassigned(String),

    /// A SET variable name that is empty or longer than 64 characters.
    #[error("invalid variable name @{0}: use 1 to 64 letters, digits and underscores")]
    InvalidVariableName(String),

    /// A `${` in a substitution template with no matching `}`.
    #[error("unterminated substitution template: no closing '}}'")]
    UnterminatedSubstitution,
}

/// A statement that parsed but cannot produce output for this message. Undefined values and type
/// mismatches are not errors (they give Undefined); only outputs AWS cannot form are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// `SELECT *, expr` on a payload that is not a JSON object (binary data, an array, a scalar):
    /// there is no object to add keys to.
    #[error("SELECT * with other items needs a JSON object payload, found {0}")]
    PayloadNotAnObject(&'static str),

    /// `SELECT VALUE` gave an array under 2015-10-08, which cannot output top-level arrays.
    #[error("a top-level array output requires awsIotSqlVersion 2016-03-23")]
    TopLevelArray,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_lines_and_columns() {
        let text = "SELECT é\nFROM x";
        let byte = text.find("FROM").unwrap();
        let at = Position::locate(text, byte);
        assert_eq!(
            at,
            Position {
                line: 2,
                column: 1,
                offset: 9
            }
        );
    }

    #[test]
    fn a_parse_error_reads_position_first() {
        let e = ParseError {
            at: Position::locate("SELECT", 6),
            kind: ParseErrorKind::Expected {
                expected: "an expression",
                found: "end of input".to_owned(),
            },
        };
        assert_eq!(
            e.to_string(),
            "line 1, column 7: expected an expression, found end of input"
        );
    }
}
