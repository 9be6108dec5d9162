#!/usr/bin/env bash
# LocalStack ready hook: the same queues, attributes and redrive policy as
# operations/queue_bootstrap.py (which `make run` and `make bootstrap` use; it is idempotent,
# so running both is harmless).
set -euo pipefail
retry=${RETRY_QUEUE_NAME:-spillway-retry}
dead=${DEAD_LETTER_QUEUE_NAME:-spillway-dead-letter}
retention=1209600   # 14 days, SQS's maximum
visibility=360      # 6 x the drain function's 60 s timeout (AWS guidance for Lambda on SQS)

awslocal sqs create-queue --queue-name "$dead" --attributes "MessageRetentionPeriod=$retention" >/dev/null
dead_arn=$(awslocal sqs get-queue-attributes --queue-url "$(awslocal sqs get-queue-url --queue-name "$dead" --query QueueUrl --output text)" \
  --attribute-names QueueArn --query Attributes.QueueArn --output text)
awslocal sqs create-queue --queue-name "$retry" --attributes "{
  \"MessageRetentionPeriod\": \"$retention\",
  \"VisibilityTimeout\": \"$visibility\",
  \"RedrivePolicy\": \"{\\\"deadLetterTargetArn\\\":\\\"$dead_arn\\\",\\\"maxReceiveCount\\\":\\\"5\\\"}\"
}" >/dev/null
echo "spillway queues ready: $retry -> $dead"
