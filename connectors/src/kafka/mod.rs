//! Apache Kafka clients, through librdkafka (rdkafka): what the source
//! ([`crate::sources::kafka`]), the producer ([`crate::sinks::kafka`]) and the dead letters
//! ([`crate::sinks::dead_letters`]) share.
//!
//! All take a `kafka://host:port[,host:port…]/topic` URL and pass any librdkafka property
//! through (`--kafka-config key=value`), so SASL, TLS and tuning need no code here.

pub mod metrics;

use rdkafka::ClientConfig;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

#[allow(missing_docs, reason = "each variant is documented by its #[error] message")]
/// What went wrong talking to Kafka, or in what the user asked of it.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("{0:?} is not a kafka://host:port/topic URL")]
    NotAKafkaUrl(String),
    #[error("{0:?} names no topic (kafka://host:port/topic)")]
    NoTopic(String),
    #[error("{0:?} is not a valid Kafka topic name")]
    InvalidTopic(String),
    #[error("{0:?} is not a comma-separated list of host:port")]
    InvalidBrokers(String),
    #[error("{0:?} is not key=value")]
    InvalidProperty(String),
    #[error("{0:?} is not earliest or latest")]
    InvalidStart(String),
    /// A librdkafka call failed; `doing` says which.
    #[error("{doing}: {cause}")]
    Client {
        doing: String,
        cause: rdkafka::error::KafkaError,
    },
    #[error("cannot create topic {topic}: {code}")]
    CreateTopic {
        topic: String,
        code: rdkafka::types::RDKafkaErrorCode,
    },
    #[error("topic {0} does not exist (yet)")]
    NoSuchTopic(String),
    #[error("cannot deliver to {topic}: {first_error}")]
    Undelivered { topic: String, first_error: String },
    #[error("{failed} records were not delivered (first error: {first_error})")]
    NotAllDelivered { failed: u64, first_error: String },
    #[error("the topic no longer holds it (the partition now starts at offset {0})")]
    Gone(i64),
    #[error("not fetched within {0:?}")]
    FetchTimeout(Duration),
    #[error("cannot start {what}: {cause}")]
    Start { what: &'static str, cause: std::io::Error },
}

impl KafkaError {
    /// For `map_err`: a failed librdkafka call, described by `doing`.
    pub(crate) fn client(doing: impl Into<String>) -> impl FnOnce(rdkafka::error::KafkaError) -> KafkaError {
        let doing = doing.into();
        move |cause| KafkaError::Client { doing, cause }
    }
}

/// `kafka://BROKERS/TOPIC`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaUrl {
    /// Comma-separated `host:port` list.
    pub brokers: String,
    /// The topic.
    pub topic: String,
}

impl FromStr for KafkaUrl {
    type Err = KafkaError;
    fn from_str(url: &str) -> Result<KafkaUrl, KafkaError> {
        let rest = url
            .strip_prefix("kafka://")
            .ok_or_else(|| KafkaError::NotAKafkaUrl(url.to_string()))?;
        let (brokers, topic) = rest
            .split_once('/')
            .ok_or_else(|| KafkaError::NoTopic(url.to_string()))?;
        let valid_topic = !topic.is_empty()
            && topic.len() <= 249
            && topic.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !valid_topic {
            return Err(KafkaError::InvalidTopic(topic.to_string()));
        }
        if brokers.is_empty() || brokers.split(',').any(|b| !b.contains(':')) {
            return Err(KafkaError::InvalidBrokers(brokers.to_string()));
        }
        Ok(KafkaUrl {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
        })
    }
}

impl fmt::Display for KafkaUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kafka://{}/{}", self.brokers, self.topic)
    }
}

/// A `key=value` librdkafka property.
pub fn parse_property(text: &str) -> Result<(String, String), KafkaError> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_string(), value.to_string())),
        _ => Err(KafkaError::InvalidProperty(text.to_string())),
    }
}

/// `payload` as one line: raw line breaks become spaces (inside JSON a line break can only be
/// insignificant whitespace, so a space keeps its meaning). One record is one line, live, in
/// the archive and in the dead-letter topic alike. Copies into `scratch` only when needed.
pub(crate) fn one_line<'a>(payload: &'a [u8], scratch: &'a mut Vec<u8>) -> &'a [u8] {
    if !payload.iter().any(|b| *b == b'\n' || *b == b'\r') {
        return payload;
    }
    scratch.clear();
    scratch.extend(payload.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }));
    scratch
}

/// A client configuration: our defaults, then the user's properties (which win).
pub(crate) fn client_config(brokers: &str, defaults: &[(&str, &str)], extra: &[(String, String)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for (key, value) in defaults {
        config.set(*key, *value);
    }
    for (key, value) in extra {
        config.set(key, value);
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_or_say_what_is_wrong() {
        let url: KafkaUrl = "kafka://a:1,b:2/voter_data".parse().unwrap();
        assert_eq!(url.brokers, "a:1,b:2");
        assert_eq!(url.topic, "voter_data");
        assert_eq!(url.to_string(), "kafka://a:1,b:2/voter_data");
        assert!("http://a:1/t"
            .parse::<KafkaUrl>()
            .unwrap_err()
            .to_string()
            .contains("kafka://"));
        assert!("kafka://a:1"
            .parse::<KafkaUrl>()
            .unwrap_err()
            .to_string()
            .contains("no topic"));
        assert!("kafka://a:1/bad topic".parse::<KafkaUrl>().is_err());
        assert!("kafka://a/t".parse::<KafkaUrl>().is_err());
        assert_eq!(parse_property("acks=all").unwrap(), ("acks".into(), "all".into()));
        assert!(parse_property("=x").is_err());
        assert!(parse_property("novalue").is_err());
    }
}
