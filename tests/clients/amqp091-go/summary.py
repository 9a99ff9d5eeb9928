"""Summarise a `go test -json` run for ../amqp091-go.sh.

usage: /usr/bin/python3 summary.py RESULTS.json SKIPPED.tsv EXPECTED.txt
SKIPPED.tsv: lines "TestName<TAB>reason" for tests the script did not run.
EXPECTED.txt: the top-level tests asked for; any that never started (the test
binary died, e.g. a panic in an earlier test) count as failed ("not run").
Prints counts and failing tests (with their last output lines); exit 1 if any
test failed or did not finish, the package failed (e.g. goleak found leaked
goroutines after the tests), or no test passed.
"""
import json
import sys


def load(path):
    final, output, pkg_fail, pkg_out, order = {}, {}, False, [], []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith('{'):
                pkg_out.append(line)
                continue
            ev = json.loads(line)
            name, action = ev.get('Test'), ev.get('Action')
            if name is None:
                if action == 'output':
                    pkg_out.append(ev.get('Output', '').rstrip('\n'))
                elif action == 'fail':
                    pkg_fail = True
                continue
            if action == 'run':
                order.append(name)
                final.setdefault(name, None)
            elif action == 'output':
                output.setdefault(name, []).append(ev.get('Output', '').rstrip('\n'))
            elif action in ('pass', 'fail', 'skip'):
                final[name] = (action, ev.get('Elapsed', 0.0))
    return final, output, pkg_fail, pkg_out, order


def main(results, skipped_path, expected_path):
    final, output, pkg_fail, pkg_out, order = load(results)
    with open(expected_path) as f:
        never = [n for n in f.read().split() if n not in final]
    skipped = []
    with open(skipped_path) as f:
        for line in f:
            if line.strip():
                name, _, reason = line.rstrip('\n').partition('\t')
                skipped.append((name, reason))
    counts = {'pass': 0, 'fail': 0, 'skip': len(skipped)}
    fails, unfinished, self_skipped = [], [], []
    for name in order:
        res = final.get(name)
        top = '/' not in name
        if res is None:
            unfinished.append(name)
            if top:
                counts['fail'] += 1
            continue
        if top:
            counts[res[0]] += 1
        if res[0] == 'fail':
            fails.append(name)
        elif res[0] == 'skip':
            self_skipped.append(name)
    counts['fail'] += len(never)
    total = sum(counts.values())
    print(f"amqp091-go: {total} tests: {counts['pass']} passed, {counts['fail']} failed, "
          f"{counts['skip']} skipped")
    for name, reason in skipped:
        print(f'  SKIP {name} ({reason})')
    for name in self_skipped:
        why = [l.strip() for l in output.get(name, []) if '_test.go:' in l]
        print(f'  SKIP {name} (skipped itself: {why[-1] if why else "t.Skip"})')
    for name in fails + unfinished:
        tag = 'FAIL' if name in fails else 'FAIL (did not finish: timeout or panic)'
        print(f'  {tag} {name}')
        lines = [l for l in output.get(name, []) if l.strip() and not l.startswith(('=== ', '--- '))]
        for l in lines[-8:]:
            print(f'         {l.strip()[:300]}')
    if never:
        print(f'  FAIL (not run: test binary died earlier) {len(never)} tests: ' + ' '.join(never))
    status = 0
    if fails or unfinished or never:
        status = 1
    if pkg_fail:
        status = 1
        if not fails and not unfinished:
            print('  FAIL package (no single test failed; e.g. goleak leaked goroutines or a build error):')
            interesting = [l for l in pkg_out if l.strip() and l.strip() not in ('FAIL', 'PASS')]
            for l in interesting[-15:]:
                print(f'         {l[:300]}')
    if counts['pass'] == 0:
        print('  no test passed')
        status = 1
    slow = sorted(((r[1], n) for n, r in final.items() if r and '/' not in n), reverse=True)[:3]
    if slow:
        print('  slowest: ' + ', '.join(f'{n} {t:.1f}s' for t, n in slow))
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
