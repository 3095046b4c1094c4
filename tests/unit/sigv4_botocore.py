#!/usr/bin/python3
"""sigv4_botocore.py - cross-check r2fs's SigV4 against botocore.

Usage: /usr/bin/python3 sigv4_botocore.py PATH/TO/sigv4_cli [SEED]

Generates random S3 requests from a fixed seed and signs each twice: with
botocore (S3SigV4Auth for the Authorization header, S3SigV4QueryAuth for
presigned URLs, under a fixed clock) and with our sigv4.c through
sigv4_cli (see sigv4_cli.c for its line protocol).  The full Authorization
values and the full presigned query strings (signature included) must be
equal.  Output is TAP; the exit status is 1 on any mismatch.

Both sides sign the same request:
- the path is encoded once, AWS-style, and handed to both as is (botocore's
  S3 signers use the URL path verbatim);
- botocore adds host (from the URL), X-Amz-Date and X-Amz-Content-SHA256
  itself, and sigv4_cli adds the same three, as r2fs does;
- the payload hash is computed by each side from the same body, or is
  UNSIGNED-PAYLOAD on both (botocore's s3 payload_signing_enabled=False);
- queries are given either as the same raw encoded string to both, or as
  decoded pairs to botocore (which encodes them itself) and as a
  differently but equivalently encoded string to us, which tests our
  decode/re-encode step against botocore's encoder.

The "python3" on PATH may lack botocore: run this with /usr/bin/python3.
"""

import datetime
import random
import subprocess
import sys
import types
from urllib.parse import quote, urlsplit

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

DEFAULT_SEED = 20240607
N_AUTH = 360
N_PRESIGN = 140
N_ENCODE = 200

EPOCH = datetime.datetime(1970, 1, 1)


class FixedClock:
    """Replaces the datetime module as botocore.auth sees it."""

    def __init__(self):
        self.now = EPOCH
        clock = self

        class FixedDateTime(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return clock.now

        self.datetime = FixedDateTime

    def set(self, t):
        self.now = EPOCH + datetime.timedelta(seconds=t)


CLOCK = FixedClock()
botocore.auth.datetime = CLOCK


def amz_date(t):
    return (EPOCH + datetime.timedelta(seconds=t)).strftime('%Y%m%dT%H%M%SZ')


class RecordingS3SigV4Auth(botocore.auth.S3SigV4Auth):
    """S3SigV4Auth that keeps the canonical request for diagnostics."""

    last_creq = None

    def canonical_request(self, request):
        self.last_creq = super().canonical_request(request)
        return self.last_creq


class RecordingS3SigV4QueryAuth(botocore.auth.S3SigV4QueryAuth):
    last_creq = None

    def canonical_request(self, request):
        self.last_creq = super().canonical_request(request)
        return self.last_creq


def hexs(b):
    if isinstance(b, str):
        b = b.encode('utf-8')
    return b.hex()


def aws_encode(s, slash=True):
    """AWS URI encoding (RFC 3986 unreserved kept, upper-case %XX)."""
    return quote(s, safe='' if slash else '/')


# ---------------------------------------------------------------- inputs

HOSTS = [
    ('https', '0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com'),
    ('https', 'acct.eu.r2.cloudflarestorage.com'),
    ('https', 's3.us-east-1.amazonaws.com'),
    ('https', 's3.amazonaws.com'),
    ('https', 'examplebucket.s3.amazonaws.com'),
    ('https', 'minio.example.com:9443'),
    ('http', 'localhost:9000'),
    ('http', '127.0.0.1:8333'),
    ('http', '[::1]:9000'),
]
REGIONS = ['auto', 'auto', 'us-east-1', 'us-east-1', 'eu-west-1',
           'us-west-2', 'ap-southeast-2', 'garage', 'wnam']
METHODS = ['GET', 'PUT', 'HEAD', 'DELETE', 'POST']
BUCKETS = ['bkt', 'my-bucket', 'a.b.c', 'bucket123', 'x']
KEY_CHARS = (
    'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
    "-._~ +%=&?#!*'()$,;:@[]{}^`|\\\"<>"
)
UNICODE = ['é', 'ü', 'ß', 'ሴ', '日本語', '😀', 'Ω', '\u00a0', '\u3000',
           '\u200b', 'ﬁ', 'Å']
CONTENT_TYPES = [
    'text/plain', 'text/plain; charset=utf-8', 'application/octet-stream',
    'image/png', 'application/json', 'text/html;  charset=UTF-8',
    'multipart/form-data; boundary="a b"', 'application/x-tar',
]
SPECIAL_TIMES = [0, 1, 951868799, 946684799, 1440938160, 1369353600,
                 2147483647, 2147483648, 4102444799]


def rand_text(rng, lo, hi, chars=KEY_CHARS, unicode_p=0.15):
    out = []
    for _ in range(rng.randint(lo, hi)):
        if rng.random() < unicode_p:
            out.append(rng.choice(UNICODE))
        else:
            out.append(rng.choice(chars))
    return ''.join(out)


def rand_key(rng):
    r = rng.random()
    if r < 0.08:
        # long keys, up to S3's 1,024 bytes
        key = rand_text(rng, 200, 1000, unicode_p=0.02)
        while len(key.encode('utf-8')) > 1024:
            key = key[:-1]
        return key
    segs = []
    for _ in range(rng.randint(1, 5)):
        t = rng.random()
        if t < 0.05:
            segs.append('')
        elif t < 0.10:
            segs.append(rng.choice(['.', '..']))
        else:
            segs.append(rand_text(rng, 1, 24))
    key = '/'.join(segs)
    if rng.random() < 0.1:
        key += '/'
    if rng.random() < 0.03:
        key = '/' + key
    return key or 'k'


def rand_credentials(rng):
    if rng.random() < 0.5:
        ak = 'AKIA' + ''.join(rng.choice('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')
                              for _ in range(16))
        sk = ''.join(rng.choice('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop'
                                'qrstuvwxyz0123456789+/') for _ in range(40))
    else:
        ak = ''.join(rng.choice('0123456789abcdef') for _ in range(32))
        sk = ''.join(rng.choice('0123456789abcdef') for _ in range(64))
    return ak, sk


def rand_time(rng):
    if rng.random() < 0.15:
        return rng.choice(SPECIAL_TIMES)
    return rng.randint(0, 4102444799)


def rand_header_value(rng):
    chars = ''.join(chr(c) for c in range(0x21, 0x7f))
    parts = []
    for _ in range(rng.randint(0, 5)):
        parts.append(''.join(rng.choice(chars)
                             for _ in range(rng.randint(0, 12))))
    seps = [' ', '  ', '\t', ' \t ', '   ']
    value = ''
    for i, p in enumerate(parts):
        if i:
            value += rng.choice(seps)
        value += p
    if rng.random() < 0.3:
        value = rng.choice(seps) + value
    if rng.random() < 0.3:
        value += rng.choice(seps)
    return value


def mixed_case(rng, name):
    return ''.join(c.upper() if rng.random() < 0.5 else c.lower()
                   for c in name)


def rand_headers(rng, path):
    pool = [
        lambda: ('Content-Type', rng.choice(CONTENT_TYPES)),
        lambda: ('Range', 'bytes=%d-%d' % (rng.randint(0, 1 << 30),
                                           rng.randint(1 << 30, 1 << 40))),
        lambda: ('If-Match', '"%032x"' % rng.getrandbits(128)),
        lambda: ('If-None-Match', '*'),
        lambda: ('If-Modified-Since', 'Wed, 21 Oct 2015 07:28:00 GMT'),
        lambda: ('Cache-Control', 'max-age=0,  no-cache'),
        lambda: ('Content-Disposition',
                 'attachment; filename="a  b.txt"'),
        lambda: ('Content-Encoding', rng.choice(['gzip', 'identity'])),
        lambda: ('Content-Language', 'en-US'),
        lambda: ('Content-MD5', '1B2M2Y8AsgTpgAmY7PhCfg=='),
        lambda: ('Accept-Encoding', 'identity'),
        lambda: ('x-amz-meta-mode', str(rng.choice([33188, 16877, 41471]))),
        lambda: ('x-amz-meta-uid', str(rng.randint(0, 65535))),
        lambda: ('x-amz-meta-gid', str(rng.randint(0, 65535))),
        lambda: ('x-amz-meta-mtime', '%d.%09d' % (rng.randint(0, 2 ** 31),
                                                  rng.randint(0, 10 ** 9))),
        lambda: ('X-Amz-Meta-Note', rand_header_value(rng)),
        lambda: ('x-amz-meta-' + rand_text(
            rng, 1, 12, 'abcdefghijklmnopqrstuvwxyz0123456789-_', 0),
            rand_header_value(rng)),
        lambda: ('x-amz-copy-source', path),
        lambda: ('x-amz-metadata-directive', 'REPLACE'),
        lambda: ('x-amz-storage-class', 'STANDARD'),
        lambda: ('x-amz-meta-empty', rng.choice(['', '   ', '\t'])),
    ]
    headers = []
    for _ in range(rng.randint(0, 7)):
        name, value = rng.choice(pool)()
        headers.append((mixed_case(rng, name), value))
    if rng.random() < 0.15:
        # the same name twice (any case): values joined with ','
        headers.append(('x-amz-meta-dup', rand_header_value(rng)))
        headers.append(('X-Amz-Meta-Dup', rand_header_value(rng)))
    return headers


QUERY_NAMES = ['list-type', 'prefix', 'delimiter', 'continuation-token',
               'max-keys', 'start-after', 'uploads', 'uploadId',
               'partNumber', 'versionId', 'response-content-disposition',
               'response-content-type', 'encoding-type', 'x-id', 'cors',
               'delete', 'lifecycle', 'fetch-owner']


def rand_query(rng):
    """A list of (name, value, has_equals) with decoded strings."""
    pairs = []
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 4, 6])):
        r = rng.random()
        if r < 0.55:
            name = rng.choice(QUERY_NAMES)
        elif r < 0.97:
            name = rand_text(rng, 1, 12)
        else:
            name = ''
        t = rng.random()
        if t < 0.15:
            value = ''
        elif t < 0.3:
            value = str(rng.randint(0, 10 ** 6))
        elif t < 0.4:
            value = '/'
        else:
            value = rand_text(rng, 1, 40)
        has_eq = bool(value) or rng.random() < 0.5 or not name
        pairs.append((name, value, has_eq))
    if pairs and rng.random() < 0.2:
        # a repeated name with another value
        name = pairs[0][0]
        pairs.append((name, rand_text(rng, 0, 8), True))
    return pairs


def url_query(pairs):
    """The canonical AWS encoding, as a raw query string."""
    out = []
    for name, value, has_eq in pairs:
        s = aws_encode(name)
        if has_eq:
            s += '=' + aws_encode(value)
        out.append(s)
    return '&'.join(out)


# Bytes that may appear raw in a query component without changing how a
# server splits it ('&', '=', '+', '%', '#' and space may not).
LOOSE = set(b"-._~!$'()*,;:@/?[]")


def variant_encode(rng, s):
    """Equivalent to aws_encode(s) after decoding, but spelled otherwise:
    random over-encoding, lower-case hex, raw UTF-8 and raw sub-delims."""
    out = []
    for b in s.encode('utf-8'):
        alnum = chr(b).isascii() and chr(b).isalnum()
        keep = alnum or b in LOOSE or b >= 0x80
        if keep and rng.random() < 0.6:
            out.append(chr(b) if b < 0x80 else bytes([b]))
        else:
            h = '%02X' % b
            if rng.random() < 0.5:
                h = h.lower()
            out.append('%' + h)
    res = b''
    for o in out:
        res += o if isinstance(o, bytes) else o.encode('ascii')
    return res


def variant_query(rng, pairs):
    out = []
    for name, value, has_eq in pairs:
        s = variant_encode(rng, name)
        if has_eq:
            s += b'=' + variant_encode(rng, value)
        out.append(s)
    return b'&'.join(out)


def rand_body(rng, method):
    if method in ('PUT', 'POST') or rng.random() < 0.1:
        n = rng.choice([0, 1, 13, 100, 1000, 4096, rng.randint(0, 70000)])
        return bytes(rng.getrandbits(8) for _ in range(n))
    return b''


# ---------------------------------------------------------------- signing

def botocore_auth(c):
    CLOCK.set(c['now'])
    creds = Credentials(c['access'], c['secret'])
    auth = RecordingS3SigV4Auth(creds, 's3', c['region'])
    url = '%s://%s%s' % (c['scheme'], c['host'], c['path'])
    params = None
    if c['qmode'] == 'url' and c['query']:
        url += '?' + c['query']
    elif c['qmode'] == 'params':
        params = [(n, v) for n, v, _ in c['pairs']]
    req = AWSRequest(method=c['method'], url=url, data=c['body'],
                     params=params)
    for name, value in c['headers']:
        req.headers[name] = value
    req.context['client_config'] = types.SimpleNamespace(
        s3={'payload_signing_enabled': not c['unsigned']})
    auth.add_auth(req)
    if req.context['timestamp'] != amz_date(c['now']):
        raise RuntimeError('botocore did not use the fixed clock')
    return req.headers['Authorization'], auth.last_creq


def cli_auth_line(c):
    raw_query = c['query'] if c['qmode'] == 'url' else c['raw_query']
    fields = ['A', hexs(c['method']), hexs(c['path']), hexs(raw_query),
              hexs(c['host']), hexs(c['access']), hexs(c['secret']),
              hexs(c['region']), hexs('s3'), str(c['now']),
              '-' if c['unsigned'] else hexs(c['body'])]
    for name, value in c['headers']:
        fields += [hexs(name), hexs(value)]
    return '\t'.join(fields)


def botocore_presign(c):
    CLOCK.set(c['now'])
    creds = Credentials(c['access'], c['secret'])
    auth = RecordingS3SigV4QueryAuth(creds, 's3', c['region'],
                                     expires=c['expires'])
    url = '%s://%s%s' % (c['scheme'], c['host'], c['path'])
    req = AWSRequest(method=c['method'], url=url)
    if c['ctype'] is not None:
        req.headers['Content-Type'] = c['ctype']
    auth.add_auth(req)
    if req.context['timestamp'] != amz_date(c['now']):
        raise RuntimeError('botocore did not use the fixed clock')
    return urlsplit(req.url).query, auth.last_creq


def cli_presign_line(c):
    return '\t'.join([
        'P', hexs(c['method']), hexs(c['path']), hexs(c['host']),
        '-' if c['ctype'] is None else hexs(c['ctype']),
        hexs(c['access']), hexs(c['secret']), hexs(c['region']), hexs('s3'),
        str(c['now']), str(c['expires'])])


def rand_path(rng):
    bucket = rng.choice(BUCKETS)
    r = rng.random()
    if r < 0.08:
        path = '/' + bucket
    elif r < 0.15:
        path = '/' + bucket + '/'
    else:
        path = '/' + bucket + '/' + rand_key(rng)
    return aws_encode(path, False)


def make_auth_case(rng):
    scheme, host = rng.choice(HOSTS)
    access, secret = rand_credentials(rng)
    method = rng.choice(METHODS)
    path = rand_path(rng)
    pairs = rand_query(rng)
    c = {
        'scheme': scheme, 'host': host, 'access': access, 'secret': secret,
        'region': rng.choice(REGIONS), 'now': rand_time(rng),
        'method': method, 'path': path, 'pairs': pairs,
        'qmode': rng.choice(['url', 'params']),
        'headers': rand_headers(rng, path),
        'body': rand_body(rng, method),
        'unsigned': rng.random() < 0.4,
    }
    c['query'] = url_query(pairs)
    c['raw_query'] = variant_query(rng, pairs)
    return c


def make_presign_case(rng):
    scheme, host = rng.choice(HOSTS)
    access, secret = rand_credentials(rng)
    ctype = None
    if rng.random() < 0.5:
        ctype = rng.choice(CONTENT_TYPES)
    expires = rng.choice([1, 60, 3600, 86400, 604800,
                          rng.randint(1, 604800)])
    return {
        'scheme': scheme, 'host': host, 'access': access, 'secret': secret,
        'region': rng.choice(REGIONS), 'now': rand_time(rng),
        'method': rng.choice(['GET', 'PUT', 'HEAD', 'DELETE']),
        'path': rand_path(rng), 'ctype': ctype, 'expires': expires,
    }


def make_encode_case(rng):
    r = rng.random()
    if r < 0.3:
        data = bytes(range(256))
        data = bytes(rng.sample(data, rng.randint(0, 64)))
    elif r < 0.6:
        data = rand_text(rng, 0, 40, unicode_p=0.3).encode('utf-8')
    else:
        data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 80)))
    return {'data': data, 'slash': rng.randint(0, 1)}


# The AWS examples, to prove the harness drives botocore correctly: both
# sides must reproduce AWS's published signatures through this very path
# (values from the S3 API reference pages also used by test_sigv4.c).
DOC_KEY = ('AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')
DOC_AUTH = {
    'scheme': 'https', 'host': 'examplebucket.s3.amazonaws.com',
    'access': DOC_KEY[0], 'secret': DOC_KEY[1], 'region': 'us-east-1',
    'now': 1369353600, 'method': 'GET', 'path': '/test.txt', 'pairs': [],
    'qmode': 'url', 'query': '', 'raw_query': b'',
    'headers': [('Range', 'bytes=0-9')], 'body': b'', 'unsigned': False,
}
DOC_AUTH_SIG = ('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6'
                '036bdb41')
DOC_PRESIGN = {
    'scheme': 'https', 'host': 'examplebucket.s3.amazonaws.com',
    'access': DOC_KEY[0], 'secret': DOC_KEY[1], 'region': 'us-east-1',
    'now': 1369353600, 'method': 'GET', 'path': '/test.txt', 'ctype': None,
    'expires': 86400,
}
DOC_PRESIGN_SIG = ('aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d1577'
                   '51f604d404')


# ---------------------------------------------------------------- TAP

class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, ok, name, diag=()):
        self.n += 1
        name = name.replace('#', '%23')
        print('%s %d - %s' % ('ok' if ok else 'not ok', self.n, name))
        if not ok:
            self.failed += 1
            for line in diag:
                for sub in str(line).split('\n'):
                    print('#   ' + sub)
        sys.stdout.flush()

    def done(self):
        print('1..%d' % self.n)
        return 1 if self.failed else 0


def creq_diag(ours_hex, theirs):
    try:
        ours = bytes.fromhex(ours_hex).decode('utf-8', 'backslashreplace')
    except ValueError:
        ours = '(undecodable: %r)' % ours_hex
    return ['our canonical request:'] + ['  ' + repr(x) for x in
                                         ours.split('\n')] + \
        ['botocore canonical request:'] + ['  ' + repr(x) for x in
                                           (theirs or '').split('\n')]


def describe_auth(i, c):
    return 'auth %d: %s %s query=%s/%d headers=%d %s region=%s' % (
        i, c['method'], c['scheme'], c['qmode'], len(c['pairs']),
        len(c['headers']), 'unsigned' if c['unsigned'] else
        'body=%d' % len(c['body']), c['region'])


def main():
    if len(sys.argv) not in (2, 3):
        sys.stderr.write('usage: %s PATH/TO/sigv4_cli [SEED]\n' % sys.argv[0])
        return 2
    cli = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) == 3 else DEFAULT_SEED
    rng = random.Random(seed)
    print('# seed %d, botocore %s' % (seed, botocore.__version__))

    auths = [DOC_AUTH] + [make_auth_case(rng) for _ in range(N_AUTH)]
    presigns = [DOC_PRESIGN] + [make_presign_case(rng)
                                for _ in range(N_PRESIGN)]
    encodes = [make_encode_case(rng) for _ in range(N_ENCODE)]

    lines = [cli_auth_line(c) for c in auths]
    lines += [cli_presign_line(c) for c in presigns]
    lines += ['E\t%s\t%d' % (c['data'].hex(), c['slash']) for c in encodes]
    proc = subprocess.run([cli], input='\n'.join(lines) + '\n',
                          capture_output=True, text=True, check=False)
    out = proc.stdout.split('\n')
    if out and out[-1] == '':
        out.pop()

    tap = Tap()
    tap.check(proc.returncode == 0 and len(out) == len(lines),
              'sigv4_cli answered every line',
              ['exit %d, %d lines for %d' % (proc.returncode, len(out),
                                             len(lines)), proc.stderr])
    out += [''] * (len(lines) - len(out))
    pos = 0

    for i, c in enumerate(auths):
        ours = out[pos]
        pos += 1
        ours_authz, _, ours_creq = ours.partition('\t')
        try:
            theirs, their_creq = botocore_auth(c)
        except Exception as e:  # a botocore failure is a test failure
            tap.check(False, describe_auth(i, c), ['botocore: %r' % e])
            continue
        name = describe_auth(i, c)
        if i == 0:
            name = 'auth 0: AWS GET Object example'
            ok = (ours_authz == theirs and
                  theirs.endswith('Signature=' + DOC_AUTH_SIG))
        else:
            ok = ours_authz == theirs
        tap.check(ok, name, ['ours:     ' + ours_authz,
                             'botocore: ' + theirs,
                             'input: ' + repr({k: c[k] for k in c
                                               if k != 'body'})] +
                  creq_diag(ours_creq, their_creq))

    for i, c in enumerate(presigns):
        ours = out[pos]
        pos += 1
        try:
            theirs, their_creq = botocore_presign(c)
        except Exception as e:
            tap.check(False, 'presign %d' % i, ['botocore: %r' % e])
            continue
        name = 'presign %d: %s %s region=%s expires=%d%s' % (
            i, c['method'], c['scheme'], c['region'], c['expires'],
            ' content-type' if c['ctype'] is not None else '')
        ok = ours == theirs
        if i == 0:
            name = 'presign 0: AWS presigned URL example'
            ok = ok and theirs.endswith('X-Amz-Signature=' + DOC_PRESIGN_SIG)
        tap.check(ok, name, ['ours:     ' + ours, 'botocore: ' + theirs,
                             'input: ' + repr(c),
                             'botocore canonical request: ' +
                             repr(their_creq)])

    for i, c in enumerate(encodes):
        ours = out[pos]
        pos += 1
        want = quote(c['data'], safe='' if c['slash'] else '/')
        tap.check(ours == want, 'encode %d: %d bytes, encode_slash=%d' % (
            i, len(c['data']), c['slash']),
            ['ours: ' + ours, 'want: ' + want, 'input: ' + c['data'].hex()])

    return tap.done()


if __name__ == '__main__':
    sys.exit(main())
