#!/usr/bin/env bash
# LocalStack ready hook: the same queues, attributes and redrive policy as
# operations/queue_bootstrap.py (which `make run` and `make bootstrap` use; it is idempotent,
# so running both is harmless), and the large-payload bucket when LARGE_PAYLOAD_BUCKET is set.
# tests/e2e/test_localstack_ready_hook.py runs it against moto's server (attributes are given as
# JSON, which every aws CLI reads alike, and which that test's stand-in for awslocal reads too).
set -euo pipefail
export AWS_PAGER=""  # aws CLI v2 pipes output through `less`, which the image may not have
retry=${RETRY_QUEUE_NAME:-spillway-retry}
dead=${DEAD_LETTER_QUEUE_NAME:-spillway-dead-letter}
retention=1209600   # 14 days, SQS's maximum
visibility=360      # 6 x the drain function's 60 s timeout (AWS guidance for Lambda on SQS)
max_size=1048576    # SQS's maximum; a queue created without it takes only 262,144 bytes
bucket=${LARGE_PAYLOAD_BUCKET:-}

# The retry queue comes last: compose's health check waits for it, so everything else exists by then.
if [ -n "$bucket" ]; then
  awslocal s3api head-bucket --bucket "$bucket" >/dev/null 2>&1 || awslocal s3api create-bucket --bucket "$bucket" >/dev/null
fi
awslocal sqs create-queue --queue-name "$dead" --attributes "{
  \"MessageRetentionPeriod\": \"$retention\",
  \"MaximumMessageSize\": \"$max_size\"
}" >/dev/null
dead_arn=$(awslocal sqs get-queue-attributes --queue-url "$(awslocal sqs get-queue-url --queue-name "$dead" --query QueueUrl --output text)" \
  --attribute-names QueueArn --query Attributes.QueueArn --output text)
awslocal sqs create-queue --queue-name "$retry" --attributes "{
  \"MessageRetentionPeriod\": \"$retention\",
  \"VisibilityTimeout\": \"$visibility\",
  \"MaximumMessageSize\": \"$max_size\",
  \"RedrivePolicy\": \"{\\\"deadLetterTargetArn\\\":\\\"$dead_arn\\\",\\\"maxReceiveCount\\\":\\\"5\\\"}\"
}" >/dev/null
echo "spillway queues ready: $retry -> $dead${bucket:+, bucket $bucket}"
