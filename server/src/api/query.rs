//! The Query protocol: `Action=<Action>&Version=2012-11-05&…` as a form-encoded POST body
//! or a GET query string, with lists and maps flattened into numbered parameters
//! (`AttributeName.1`, `Attribute.1.Name`/`Attribute.1.Value`,
//! `MessageAttribute.1.Value.StringValue`, `SendMessageBatchRequestEntry.1.Id`, …).
//!
//! List members are taken in ascending index order; gaps are allowed, indexes must be
//! positive decimal numbers without leading zeros (other keys are ignored like any
//! unknown parameter), so even `Attribute.999999999.Name` costs nothing.

use crate::api::decode::{Input, decode};
use crate::api::model::{Action, MessageAttributeValue, MessageAttributes, Request};
use crate::api::validate;
use crate::error::{ErrorCode, SqsError, SqsResult, texts};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode;
use std::collections::{BTreeMap, BTreeSet};

/// The content type of form-encoded Query requests.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The parameters of a Query request, by name.
pub type Params = BTreeMap<String, String>;

/// Parses `application/x-www-form-urlencoded` data (`+` is a space, `%XX` a byte) into
/// `params`. Every name and value must be UTF-8 once decoded (`MalformedQueryString`
/// otherwise). The first occurrence of a repeated name wins.
pub fn parse_form(data: &[u8], params: &mut Params) -> SqsResult<()> {
    for pair in data.split(|&b| b == b'&') {
        if pair.is_empty() {
            continue;
        }
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        let name = decode_component(name)?;
        let value = decode_component(value)?;
        params.entry(name).or_insert(value);
    }
    Ok(())
}

fn decode_component(raw: &[u8]) -> SqsResult<String> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let bytes: Vec<u8> = percent_decode(&spaced).collect();
    String::from_utf8(bytes)
        .map_err(|_| SqsError::new(ErrorCode::MalformedQueryString, texts::QUERY_NOT_UTF8))
}

/// The action a Query request names: `InvalidAction` when it names none or an unknown one.
pub fn action(params: &Params) -> SqsResult<Action> {
    match params.get("Action") {
        None => Err(SqsError::new(
            ErrorCode::InvalidAction,
            texts::MISSING_ACTION,
        )),
        Some(name) => Action::from_name(name)
            .ok_or_else(|| SqsError::new(ErrorCode::InvalidAction, texts::invalid_action(name))),
    }
}

/// Decodes the parameters of a Query request (the action included).
///
/// `path_queue_url` is the QueueUrl the request path denotes (AWS accepts
/// `POST /<account>/<queue>` without a `QueueUrl` parameter); it is used only when the
/// action has a QueueUrl member and the parameter is absent.
pub fn decode_params(params: &Params, path_queue_url: Option<&str>) -> SqsResult<Request> {
    let action = action(params)?;
    match path_queue_url {
        Some(url) if !params.contains_key("QueueUrl") => {
            let mut with_url = params.clone();
            with_url.insert("QueueUrl".into(), url.to_string());
            decode(action, &QueryInput::top(&with_url))
        }
        _ => decode(action, &QueryInput::top(params)),
    }
}

/// The member names the Query protocol reports for missing list and map members.
fn query_name(json: &str) -> &str {
    match json {
        "Attributes" => "Attribute.1.Name",
        "Tags" => "Tag.1.Key",
        "TagKeys" => "TagKey.1",
        "AWSAccountIds" => "AWSAccountId.1",
        "Actions" => "ActionName.1",
        other => other,
    }
}

/// One structure of a Query request: the parameters under `prefix`.
pub(crate) struct QueryInput<'a> {
    params: &'a Params,
    prefix: String,
}

impl<'a> QueryInput<'a> {
    fn top(params: &'a Params) -> Self {
        QueryInput {
            params,
            prefix: String::new(),
        }
    }

    fn get(&self, name: &str) -> Option<&'a String> {
        self.params.get(&format!("{}{name}", self.prefix))
    }

    /// The indexes `N` of the parameters named `<prefix><member>.N` (when `leaf`) or
    /// `<prefix><member>.N.<anything>` (otherwise), ascending.
    fn indexes(&self, member: &str, leaf: bool) -> BTreeSet<u32> {
        let start = format!("{}{member}.", self.prefix);
        let mut out = BTreeSet::new();
        for (key, _) in self.params.range(start.clone()..) {
            let Some(rest) = key.strip_prefix(&start) else {
                break;
            };
            let (index, tail) = match rest.split_once('.') {
                Some((index, _)) => (index, true),
                None => (rest, false),
            };
            if tail == leaf {
                continue;
            }
            if let Some(n) = parse_index(index) {
                out.insert(n);
            }
        }
        out
    }

    fn blob(&self, name: &str) -> SqsResult<Option<Vec<u8>>> {
        self.get(name)
            .map(|s| {
                STANDARD
                    .decode(s)
                    .map_err(|_| SqsError::invalid_parameter(texts::not_base64(&self.path(name))))
            })
            .transpose()
    }

    fn attribute_value(&self, prefix: &str) -> SqsResult<MessageAttributeValue> {
        let v = QueryInput {
            params: self.params,
            prefix: format!("{}{prefix}", self.prefix),
        };
        Ok(MessageAttributeValue {
            string_value: v.string("StringValue")?,
            binary_value: v.blob("BinaryValue")?,
            string_list_values: v
                .string_list("StringListValues", "StringListValue")?
                .unwrap_or_default(),
            binary_list_values: v
                .indexes("BinaryListValue", true)
                .into_iter()
                .map(|n| {
                    v.blob(&format!("BinaryListValue.{n}"))
                        .map(Option::unwrap_or_default)
                })
                .collect::<SqsResult<_>>()?,
            data_type: v.string("DataType")?.unwrap_or_default(),
        })
    }
}

/// A list index: a positive decimal `u32` without sign or leading zeros.
fn parse_index(s: &str) -> Option<u32> {
    if s.is_empty() || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Input for QueryInput<'_> {
    fn string(&self, name: &str) -> SqsResult<Option<String>> {
        Ok(self.get(name).cloned())
    }

    fn int(&self, name: &str) -> SqsResult<Option<i32>> {
        self.get(name)
            .map(|s| {
                s.parse::<i32>().map_err(|_| {
                    SqsError::invalid_parameter(texts::not_an_integer(&self.path(name), s))
                })
            })
            .transpose()
    }

    fn string_list(&self, _json: &str, query: &str) -> SqsResult<Option<Vec<String>>> {
        let indexes = self.indexes(query, true);
        if indexes.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            indexes
                .into_iter()
                .filter_map(|n| self.get(&format!("{query}.{n}")).cloned())
                .collect(),
        ))
    }

    fn string_map(
        &self,
        _json: &str,
        query: &str,
        key: &str,
        value: &str,
    ) -> SqsResult<Option<BTreeMap<String, String>>> {
        let indexes = self.indexes(query, false);
        if indexes.is_empty() {
            return Ok(None);
        }
        let mut map = BTreeMap::new();
        for n in indexes {
            let k_name = format!("{query}.{n}.{key}");
            let v_name = format!("{query}.{n}.{value}");
            let (k, v) = match (self.get(&k_name), self.get(&v_name)) {
                (Some(k), Some(v)) => (k, v),
                (None, None) => continue, // only unrelated sub-parameters
                (None, Some(_)) => return Err(SqsError::missing_parameter(&self.path(&k_name))),
                (Some(_), None) => return Err(SqsError::missing_parameter(&self.path(&v_name))),
            };
            if map.insert(k.clone(), v.clone()).is_some() {
                return Err(SqsError::invalid_parameter(texts::map_key_repeated(
                    &self.path(query),
                    k,
                )));
            }
        }
        Ok(Some(map))
    }

    fn attribute_map(&self, _json: &str, query: &str) -> SqsResult<Option<MessageAttributes>> {
        let indexes = self.indexes(query, false);
        if indexes.is_empty() {
            return Ok(None);
        }
        let mut map = BTreeMap::new();
        for n in indexes {
            let name_param = format!("{query}.{n}.Name");
            let Some(name) = self.get(&name_param) else {
                return Err(SqsError::missing_parameter(&self.path(&name_param)));
            };
            let value = self.attribute_value(&format!("{query}.{n}.Value."))?;
            if map.insert(name.clone(), value).is_some() {
                return Err(SqsError::invalid_parameter(texts::attribute_name_repeated(
                    name,
                )));
            }
        }
        Ok(Some(map))
    }

    fn structs(&self, _json: &str, query: &str) -> SqsResult<Option<Vec<Self>>> {
        let indexes = self.indexes(query, false);
        if indexes.is_empty() {
            return Ok(None);
        }
        validate::batch_size(indexes.len())?;
        Ok(Some(
            indexes
                .into_iter()
                .map(|n| QueryInput {
                    params: self.params,
                    prefix: format!("{}{query}.{n}.", self.prefix),
                })
                .collect(),
        ))
    }

    fn path(&self, name: &str) -> String {
        format!("{}{}", self.prefix, query_name(name))
    }
}
