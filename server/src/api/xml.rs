//! Query-protocol responses: AWS's XML documents for results and errors.
//!
//! Text is escaped so every string round-trips through an XML parser: `& < > " '` as
//! entities and CR as `&#xD;` (a parser would otherwise normalise CR LF to LF).
//! Characters XML 1.0 cannot carry at all (control characters other than TAB, LF, CR;
//! U+FFFE/U+FFFF) never occur in validated bodies; should one reach the writer anyway,
//! it becomes U+FFFD so the document stays well-formed.

use crate::api::model::*;
use crate::error::{SqsError, texts};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::BTreeMap;

/// The content type of Query responses.
pub const CONTENT_TYPE: &str = "text/xml";

/// The XML namespace of API version 2012-11-05.
pub const NAMESPACE: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

const DECLARATION: &str = "<?xml version=\"1.0\"?>";

/// Appends `text` to `out`, escaped for XML element content.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// A minimal XML writer.
struct Xml {
    out: String,
}

impl Xml {
    fn new() -> Self {
        Xml {
            out: String::from(DECLARATION),
        }
    }

    fn open(&mut self, tag: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
        self
    }

    fn close(&mut self, tag: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
        self
    }

    fn text(&mut self, tag: &str, value: &str) -> &mut Self {
        self.open(tag);
        escape_into(&mut self.out, value);
        self.close(tag)
    }

    fn opt(&mut self, tag: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.text(tag, v);
        }
        self
    }

    fn name_values(&mut self, tag: &str, key: &str, map: &BTreeMap<String, String>) {
        for (k, v) in map {
            self.open(tag).text(key, k).text("Value", v).close(tag);
        }
    }

    fn errors(&mut self, failed: &[BatchResultErrorEntry]) {
        for f in failed {
            self.open("BatchResultErrorEntry")
                .text("Id", &f.id)
                .text("SenderFault", if f.sender_fault { "true" } else { "false" })
                .text("Code", &f.code)
                .opt("Message", f.message.as_deref())
                .close("BatchResultErrorEntry");
        }
    }

    fn ids(&mut self, tag: &str, successful: &[BatchResultEntry]) {
        for s in successful {
            self.open(tag).text("Id", &s.id).close(tag);
        }
    }

    fn attribute_value(&mut self, v: &MessageAttributeValue) {
        self.open("Value");
        self.opt("StringValue", v.string_value.as_deref());
        if let Some(b) = &v.binary_value {
            self.text("BinaryValue", &STANDARD.encode(b));
        }
        for s in &v.string_list_values {
            self.text("StringListValue", s);
        }
        for b in &v.binary_list_values {
            self.text("BinaryListValue", &STANDARD.encode(b));
        }
        self.text("DataType", &v.data_type);
        self.close("Value");
    }

    fn message(&mut self, m: &Message) {
        self.open("Message")
            .text("MessageId", &m.message_id)
            .text("ReceiptHandle", &m.receipt_handle)
            .text("MD5OfBody", &m.md5_of_body)
            .text("Body", &m.body);
        self.name_values("Attribute", "Name", &m.attributes);
        self.opt(
            "MD5OfMessageAttributes",
            m.md5_of_message_attributes.as_deref(),
        );
        for (name, value) in &m.message_attributes {
            self.open("MessageAttribute").text("Name", name);
            self.attribute_value(value);
            self.close("MessageAttribute");
        }
        self.close("Message");
    }

    fn result(&mut self, response: &Response) {
        match response {
            Response::CreateQueue(r) => {
                self.text("QueueUrl", &r.queue_url);
            }
            Response::GetQueueUrl(r) => {
                self.text("QueueUrl", &r.queue_url);
            }
            Response::ListQueues(r) => {
                for url in &r.queue_urls {
                    self.text("QueueUrl", url);
                }
                self.opt("NextToken", r.next_token.as_deref());
            }
            Response::GetQueueAttributes(r) => self.name_values("Attribute", "Name", &r.attributes),
            Response::SendMessage(r) => {
                self.text("MD5OfMessageBody", &r.md5_of_message_body)
                    .opt(
                        "MD5OfMessageAttributes",
                        r.md5_of_message_attributes.as_deref(),
                    )
                    .opt(
                        "MD5OfMessageSystemAttributes",
                        r.md5_of_message_system_attributes.as_deref(),
                    )
                    .text("MessageId", &r.message_id)
                    .opt("SequenceNumber", r.sequence_number.as_deref());
            }
            Response::SendMessageBatch(r) => {
                for s in &r.successful {
                    self.open("SendMessageBatchResultEntry")
                        .text("Id", &s.id)
                        .text("MessageId", &s.message_id)
                        .text("MD5OfMessageBody", &s.md5_of_message_body)
                        .opt(
                            "MD5OfMessageAttributes",
                            s.md5_of_message_attributes.as_deref(),
                        )
                        .opt(
                            "MD5OfMessageSystemAttributes",
                            s.md5_of_message_system_attributes.as_deref(),
                        )
                        .opt("SequenceNumber", s.sequence_number.as_deref())
                        .close("SendMessageBatchResultEntry");
                }
                self.errors(&r.failed);
            }
            Response::ReceiveMessage(r) => {
                for m in &r.messages {
                    self.message(m);
                }
            }
            Response::DeleteMessageBatch(r) => {
                self.ids("DeleteMessageBatchResultEntry", &r.successful);
                self.errors(&r.failed);
            }
            Response::ChangeMessageVisibilityBatch(r) => {
                self.ids("ChangeMessageVisibilityBatchResultEntry", &r.successful);
                self.errors(&r.failed);
            }
            Response::ListQueueTags(r) => self.name_values("Tag", "Key", &r.tags),
            Response::ListDeadLetterSourceQueues(r) => {
                for url in &r.queue_urls {
                    self.text("QueueUrl", url);
                }
                self.opt("NextToken", r.next_token.as_deref());
            }
            Response::StartMessageMoveTask(r) => {
                self.text("TaskHandle", &r.task_handle);
            }
            Response::ListMessageMoveTasks(r) => {
                for t in &r.results {
                    self.open("ListMessageMoveTasksResultEntry")
                        .opt("TaskHandle", t.task_handle.as_deref())
                        .text("Status", &t.status)
                        .text("SourceArn", &t.source_arn)
                        .opt("DestinationArn", t.destination_arn.as_deref())
                        .opt(
                            "MaxNumberOfMessagesPerSecond",
                            t.max_number_of_messages_per_second
                                .map(|n| n.to_string())
                                .as_deref(),
                        )
                        .text(
                            "ApproximateNumberOfMessagesMoved",
                            &t.approximate_number_of_messages_moved.to_string(),
                        )
                        .opt(
                            "ApproximateNumberOfMessagesToMove",
                            t.approximate_number_of_messages_to_move
                                .map(|n| n.to_string())
                                .as_deref(),
                        )
                        .opt("FailureReason", t.failure_reason.as_deref())
                        .text("StartedTimestamp", &t.started_timestamp.to_string())
                        .close("ListMessageMoveTasksResultEntry");
                }
            }
            Response::CancelMessageMoveTask(r) => {
                self.text(
                    "ApproximateNumberOfMessagesMoved",
                    &r.approximate_number_of_messages_moved.to_string(),
                );
            }
            Response::DeleteQueue
            | Response::SetQueueAttributes
            | Response::DeleteMessage
            | Response::ChangeMessageVisibility
            | Response::PurgeQueue
            | Response::TagQueue
            | Response::UntagQueue
            | Response::AddPermission
            | Response::RemovePermission => {}
        }
    }

    fn finish(self) -> Vec<u8> {
        self.out.into_bytes()
    }
}

/// Whether the action's XML response carries a `<ActionResult>` element (actions with
/// no output members answer with `ResponseMetadata` only).
fn has_result(response: &Response) -> bool {
    !matches!(
        response,
        Response::DeleteQueue
            | Response::SetQueueAttributes
            | Response::DeleteMessage
            | Response::ChangeMessageVisibility
            | Response::PurgeQueue
            | Response::TagQueue
            | Response::UntagQueue
            | Response::AddPermission
            | Response::RemovePermission
    )
}

/// The XML document of a successful response.
pub fn encode_response(response: &Response, request_id: &str) -> Vec<u8> {
    let action = response.action().as_str();
    let root = format!("{action}Response");
    let mut x = Xml::new();
    x.out.push_str(&format!("<{root} xmlns=\"{NAMESPACE}\">"));
    if has_result(response) {
        let result = format!("{action}Result");
        x.open(&result);
        let empty = x.out.len();
        x.result(response);
        if x.out.len() == empty {
            // An empty result is an empty element, e.g. `<ReceiveMessageResult/>`.
            x.out.truncate(empty - 1);
            x.out.push_str("/>");
        } else {
            x.close(&result);
        }
    }
    x.open("ResponseMetadata")
        .text("RequestId", request_id)
        .close("ResponseMetadata")
        .close(&root);
    x.finish()
}

/// The `ErrorResponse` document of an error, with the Query error code.
pub fn encode_error(error: &SqsError, request_id: &str) -> Vec<u8> {
    let mut x = Xml::new();
    x.out
        .push_str(&format!("<ErrorResponse xmlns=\"{NAMESPACE}\">"));
    x.open("Error")
        .text(
            "Type",
            if error.code.sender_fault() {
                "Sender"
            } else {
                "Receiver"
            },
        )
        .text("Code", error.code.query_code())
        .text("Message", texts::for_query(error));
    x.out.push_str("<Detail/>");
    x.close("Error")
        .text("RequestId", request_id)
        .close("ErrorResponse");
    x.finish()
}
