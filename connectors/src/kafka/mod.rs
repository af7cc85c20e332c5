//! Apache Kafka, through librdkafka (rdkafka): the [`producer`] the generator writes with, and
//! the partitioned [`source`] the job reads from.
//!
//! Both take a `kafka://host:port[,host:port…]/topic` URL and pass any librdkafka property
//! through (`--kafka-config key=value`), so SASL, TLS and tuning need no code here.

pub mod metrics;
pub mod producer;
pub mod refetch;
pub mod source;

use rdkafka::ClientConfig;
use std::fmt;
use std::str::FromStr;

/// `kafka://BROKERS/TOPIC`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaUrl {
    /// Comma-separated `host:port` list.
    pub brokers: String,
    pub topic: String,
}

impl FromStr for KafkaUrl {
    type Err = String;
    fn from_str(url: &str) -> Result<KafkaUrl, String> {
        let rest = url
            .strip_prefix("kafka://")
            .ok_or_else(|| format!("{url:?} is not a kafka://host:port/topic URL"))?;
        let (brokers, topic) = rest
            .split_once('/')
            .ok_or_else(|| format!("{url:?} names no topic (kafka://host:port/topic)"))?;
        let valid_topic = !topic.is_empty()
            && topic.len() <= 249
            && topic.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !valid_topic {
            return Err(format!("{topic:?} is not a valid Kafka topic name"));
        }
        if brokers.is_empty() || brokers.split(',').any(|b| !b.contains(':')) {
            return Err(format!("{brokers:?} is not a comma-separated list of host:port"));
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
pub fn parse_property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_string(), value.to_string())),
        _ => Err(format!("{text:?} is not key=value")),
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
fn client_config(brokers: &str, defaults: &[(&str, &str)], extra: &[(String, String)]) -> ClientConfig {
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
        assert!("http://a:1/t".parse::<KafkaUrl>().unwrap_err().contains("kafka://"));
        assert!("kafka://a:1".parse::<KafkaUrl>().unwrap_err().contains("no topic"));
        assert!("kafka://a:1/bad topic".parse::<KafkaUrl>().is_err());
        assert!("kafka://a/t".parse::<KafkaUrl>().is_err());
        assert_eq!(parse_property("acks=all").unwrap(), ("acks".into(), "all".into()));
        assert!(parse_property("=x").is_err());
        assert!(parse_property("novalue").is_err());
    }
}
