"""The swift CLI, many commands in one process (test/helpers/client-tools.ts swiftSession).

/usr/bin/swift is `sys.exit(swiftclient.shell.main())`; this runs that same main once per line of
stdin (a JSON list: the command line's arguments after `swift`) and answers one JSON line:
{"code": exit status, "stdout": base64, "stderr": base64}. Starting the CLI costs about a second of
CPU (its imports); a test that runs it dozens of times pays that once.
"""
import base64
import io
import json
import sys

from swiftclient.shell import main


def run(argv):
    out = io.TextIOWrapper(io.BytesIO(), encoding='utf-8', write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding='utf-8', write_through=True)
    real = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    code = 0
    try:
        main(argv)
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=err)
            code = 1
        else:
            code = e.code or 0
    finally:
        sys.stdout, sys.stderr = real
    return {
        'code': code,
        'stdout': base64.b64encode(out.buffer.getvalue()).decode(),
        'stderr': base64.b64encode(err.buffer.getvalue()).decode(),
    }


for line in sys.stdin:
    print(json.dumps(run(json.loads(line))), flush=True)
