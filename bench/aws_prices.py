"""AWS's public on-demand prices B10 multiplies by, in one place: US East (N. Virginia),
us-east-1, first pricing tier, free tier left out (it is per account, not per event).

Read on 2026-11-29. Prices change: check the pages below before quoting a figure from B10.
"""

from __future__ import annotations

PRICES_READ_ON = "2026-11-29"
REGION = "us-east-1"

# API Gateway REST API: $3.50 per million requests for the first 333 million a month.
# https://aws.amazon.com/api-gateway/pricing/ (the rates render client-side; the same table in
# text: https://docs.aws.amazon.com/whitepapers/latest/best-practices-api-gateway-private-apis-integration/cost-optimization.html)
API_GATEWAY_REST_PER_MILLION = 3.50

# Lambda on x86: $0.20 per million requests and $0.0000166667 per GB-second (first tier,
# 6 billion GB-seconds a month); duration is billed per 1 ms, rounded up, for each invocation.
# https://aws.amazon.com/lambda/pricing/ and
# https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html
LAMBDA_REQUESTS_PER_MILLION = 0.20
LAMBDA_X86_PER_GB_SECOND = 0.0000166667
LAMBDA_BILLING_GRANULARITY_MS = 1

# SQS standard queue: $0.40 per million requests (first 100 billion a month); every 64 KB chunk
# of a request's payload is billed as one request (a 256 KB message is 4).
# https://aws.amazon.com/sqs/pricing/ (as summarised for us-east-1, March 2026, by
# https://cloudburn.io/blog/amazon-sqs-pricing)
SQS_STANDARD_PER_MILLION = 0.40
SQS_BILLING_CHUNK_BYTES = 64 * 1024

# Lambda gives a function CPU in proportion to its memory: at 1,769 MB the equivalent of one
# vCPU. https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html
LAMBDA_MB_PER_VCPU = 1769
