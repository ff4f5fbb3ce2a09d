//! Log lines on standard error, as text or JSON; a cluster node's lines name the node, so that
//! the logs of several nodes can be read together.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::registry::LookupSpan;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber (level from `RUST_LOG`, default info); with `node`, every
/// line names it (`node=…` before a text line, a `"node"` member of a JSON one).
pub(crate) fn init(format: LogFormat, node: Option<String>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .event_format(NodeTagged {
                node,
                inner: format::format(),
            })
            .init(),
        LogFormat::Json => builder
            .json()
            .event_format(NodeTagged {
                node,
                inner: format::format().json(),
            })
            .init(),
    }
}

/// Another event format with the node's name added.
struct NodeTagged<F> {
    node: Option<String>,
    inner: F,
}

impl<S, N, F> FormatEvent<S, N> for NodeTagged<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N> + JsonOrText,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some(node) = &self.node else {
            return self.inner.format_event(ctx, writer, event);
        };
        if !F::JSON {
            write!(writer, "node={node} ")?;
            return self.inner.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        writer.write_str(&tag_json(&line, node))
    }
}

/// Whether a format writes JSON objects.
trait JsonOrText {
    const JSON: bool;
}

impl<T> JsonOrText for format::Format<format::Full, T> {
    const JSON: bool = false;
}

impl<T> JsonOrText for format::Format<format::Json, T> {
    const JSON: bool = true;
}

/// `line` (one JSON object) with `"node": node` as its first member.
fn tag_json(line: &str, node: &str) -> String {
    let name = serde_json::to_string(node).unwrap_or_else(|_| "\"\"".to_owned());
    match line.strip_prefix('{') {
        Some(rest) if rest.trim_start().starts_with('}') => format!("{{\"node\":{name}{rest}"),
        Some(rest) => format!("{{\"node\":{name},{rest}"),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_gets_the_node_as_its_first_member() {
        let line = "{\"timestamp\":\"t\",\"level\":\"INFO\"}\n";
        let tagged = tag_json(line, "node-1");
        assert_eq!(
            tagged,
            "{\"node\":\"node-1\",\"timestamp\":\"t\",\"level\":\"INFO\"}\n"
        );
        let value: serde_json::Value = serde_json::from_str(tagged.trim()).unwrap();
        assert_eq!(value["node"], "node-1");
        assert_eq!(tag_json("{}", "a\"b"), "{\"node\":\"a\\\"b\"}");
    }
}
