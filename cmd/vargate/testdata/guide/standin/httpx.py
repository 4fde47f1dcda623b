"""A stand-in for the few parts of httpx that the setup guide's Python
example uses, over urllib, for machines where httpx is not installed.
guide_test.go puts this directory on PYTHONPATH only when `import httpx`
fails; the example itself is run unchanged."""

import json as _json
import urllib.error
import urllib.request


class Response:
    def __init__(self, status_code, headers, content):
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self):
        return self.content.decode("utf-8")

    def json(self):
        return _json.loads(self.content)

    def raise_for_status(self):
        if self.status_code >= 400:
            raise HTTPStatusError(f"{self.status_code}: {self.text}")
        return self


class HTTPStatusError(Exception):
    pass


class Client:
    def __init__(self, base_url="", headers=None, timeout=5.0):
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout = timeout

    def request(self, method, url, json=None, headers=None):
        full = self.base_url + "/" + url.lstrip("/")
        hdrs = dict(self.headers)
        hdrs.update(headers or {})
        data = None
        if json is not None:
            data = _json.dumps(json).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        req = urllib.request.Request(full, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return Response(r.status, dict(r.headers), r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, dict(e.headers), e.read())

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url, **kwargs):
        return self.request("POST", url, **kwargs)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
