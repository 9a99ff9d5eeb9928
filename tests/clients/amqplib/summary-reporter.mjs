// node:test custom reporter used by ../amqplib.sh: writes one line per finished
// test or suite, tab-separated: STATUS  KIND  FILE  FULL-NAME  [ERROR]
// STATUS is pass | fail | skip | todo; KIND is test | suite.
// FULL-NAME is "Suite > sub-suite > title", the form the skip file uses.
// amqplib.sh runs one test file per node --test run (FILE comes from env
// WARREN_TEST_FILE); tests within a file run one after another, so a stack of
// the names seen in test:start events (indexed by nesting) gives each path.

const SEP = ' > ';

function oneLine(s) {
  return String(s).replace(/\s+/g, ' ').slice(0, 300);
}

function errorText(details) {
  const e = details && details.error;
  if (!e) return '';
  const cause = e.cause || e;
  return oneLine((cause && cause.message) || cause || e.message || e);
}

export default async function* summaryReporter(source) {
  const file = process.env.WARREN_TEST_FILE || '?';
  const stack = [];
  for await (const ev of source) {
    const d = ev.data || {};
    if (ev.type === 'test:start') {
      stack.length = d.nesting;
      stack[d.nesting] = d.name;
      continue;
    }
    if (ev.type !== 'test:pass' && ev.type !== 'test:fail') continue;
    const full = [...stack.slice(0, d.nesting), d.name].join(SEP);
    const kind = d.details && d.details.type === 'suite' ? 'suite' : 'test';
    let status = ev.type === 'test:pass' ? 'pass' : 'fail';
    if (d.skip !== undefined && d.skip !== false) status = 'skip';
    else if (d.todo !== undefined && d.todo !== false) status = 'todo';
    const err = status === 'fail' ? errorText(d.details) : '';
    yield `${status}\t${kind}\t${file}\t${full}\t${err}\n`;
  }
}
