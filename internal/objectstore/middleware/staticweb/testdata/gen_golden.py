# Renders the expected staticweb pages of cases.json with Swift's own
# staticweb middleware (upstream HEAD, run on Debian's swift libraries):
#   /usr/bin/python3 gen_golden.py /path/to/staticweb_head.py
# Writes <name>.golden: the status line, then the body.
import importlib.util, json, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[1])))
spec = importlib.util.spec_from_file_location("staticweb_head", sys.argv[1])
sw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sw)

cases = json.load(open("cases.json"))
for case in cases:
    meta = {"X-Container-Meta-" + k.title(): v for k, v in case["meta"].items()}

    def app(env, start_response, case=case, meta=meta):
        path, method = env["PATH_INFO"], env["REQUEST_METHOD"]
        if method == "HEAD" and path == "/v1/AUTH_a":
            start_response("204 No Content", [])
            return [b""]
        if method == "HEAD" and path == "/v1/AUTH_a/c":
            start_response("204 No Content", list(meta.items()))
            return [b""]
        if method == "GET" and path == "/v1/AUTH_a/c":
            body = json.dumps(case["listing"]).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]

    env = {"REQUEST_METHOD": "GET", "PATH_INFO": case["path"], "QUERY_STRING": case.get("query", ""),
           "SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
           "HTTP_HOST": "localhost", "swift.authorize": lambda req: None, "wsgi.input": None}
    if case.get("tempurl"):
        env["REMOTE_USER"] = ".wsgi.tempurl"
    ctx = sw._StaticWebContext(sw.StaticWeb(app, {}), "v1", "AUTH_a", "c", "")
    ctx._get_container_info(env)
    out = {}
    def start_response(status, headers, exc_info=None):
        out["status"] = status
    body = b"".join(ctx._listing(env, start_response, case.get("prefix", "")))
    with open(case["name"] + ".golden", "wb") as f:
        f.write(out["status"].encode() + b"\n" + body)
