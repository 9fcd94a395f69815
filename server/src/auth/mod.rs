//! SigV4 authentication of SQS requests.
