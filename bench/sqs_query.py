"""Queue chores for a benchmark against moto's server, over SQS's query protocol with urllib.

Not boto3, so not operations/sqs_admin.py (the tooling's SQS helper): B3 times the first spill
after Redis dies, which imports boto3 and builds the relay's SQS client; a benchmark that had
imported boto3 itself would hide part of that cost. It raises the tooling's one SQS error.
"""

from __future__ import annotations

import re
import urllib.parse
import urllib.request

from operations.sqs_admin import SqsAdminError

# moto's server picks the service from the credential scope of the Authorization header; it
# checks no signature.
QUERY_HEADERS = {
    "Content-Type": "application/x-www-form-urlencoded",
    "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20250101/us-east-1/sqs/aws4_request, "
    "SignedHeaders=host, Signature=0",
}
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SqsQueryClient:
    def __init__(self, endpoint: str, timeout: float = 10.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout

    def _call(self, action: str, **parameters: str) -> str:
        data = urllib.parse.urlencode({"Action": action, "Version": "2012-11-05", **parameters}).encode()
        request = urllib.request.Request(f"{self.endpoint}/", data=data, headers=QUERY_HEADERS)
        try:
            with _direct.open(request, timeout=self.timeout) as response:
                return str(response.read().decode("utf-8"))
        except OSError as exc:  # URLError, HTTPError and timeouts are all OSError
            raise SqsAdminError(f"{action} at {self.endpoint}: {exc}") from exc

    def create_queue(self, name: str) -> str:
        answer = self._call("CreateQueue", QueueName=name)
        match = re.search(r"<QueueUrl>([^<]+)</QueueUrl>", answer)
        if match is None:
            raise SqsAdminError(f"CreateQueue {name}: no QueueUrl in {answer[:200]!r}")
        return match.group(1)

    def purge_queue(self, queue_url: str) -> None:
        self._call("PurgeQueue", QueueUrl=queue_url)

    def message_count(self, queue_url: str) -> int:
        """Visible, in flight and delayed together."""
        answer = self._call(
            "GetQueueAttributes",
            QueueUrl=queue_url,
            **{
                "AttributeName.1": "ApproximateNumberOfMessages",
                "AttributeName.2": "ApproximateNumberOfMessagesNotVisible",
                "AttributeName.3": "ApproximateNumberOfMessagesDelayed",
            },
        )
        return sum(int(value) for value in re.findall(r"<Value>(\d+)</Value>", answer))
