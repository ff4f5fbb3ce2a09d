//! The two AWS IoT SQL versions and what 2016-03-23 added.

use std::fmt;
use std::str::FromStr;

/// The `awsIotSqlVersion` of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SqlVersion {
    /// The original engine, and AWS's default when a rule names no version.
    #[default]
    V2015_10_08,
    /// The engine with literals, nested access, `encode`/`decode` and top-level arrays. `beta`
    /// parses to this too: AWS's beta is its newest engine, which we do not model separately.
    V2016_03_23,
}

impl SqlVersion {
    /// The version as AWS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SqlVersion::V2015_10_08 => "2015-10-08",
            SqlVersion::V2016_03_23 => "2016-03-23",
        }
    }
}

impl fmt::Display for SqlVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A version string other than `2015-10-08`, `2016-03-23` and `beta`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown awsIotSqlVersion {0:?} (expected 2015-10-08, 2016-03-23 or beta)")]
pub struct UnknownSqlVersion(pub String);

impl FromStr for SqlVersion {
    type Err = UnknownSqlVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "2015-10-08" => Ok(SqlVersion::V2015_10_08),
            "2016-03-23" | "beta" => Ok(SqlVersion::V2016_03_23),
            other => Err(UnknownSqlVersion(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_is_read_as_2016_03_23() {
        assert_eq!("beta".parse(), Ok(SqlVersion::V2016_03_23));
        assert_eq!("2015-10-08".parse(), Ok(SqlVersion::V2015_10_08));
        assert!("2017-01-01".parse::<SqlVersion>().is_err());
    }

    #[test]
    fn the_default_version_is_2015_10_08() {
        assert_eq!(SqlVersion::default(), SqlVersion::V2015_10_08);
    }
}
