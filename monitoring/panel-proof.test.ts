import { overviewDashboard } from './dashboards/overview.js';
import { agrees, groupByPanel, panelQueries, parsePromResponse, substituteVariables } from './panel-proof.js';

const vars = {
  values: {
    namespace: 'jetscale-demo-ab12',
    name: 'demo-jetscale-demo-consumer',
    deployment: 'd.x',
    testid: 't',
  },
  rateIntervalSeconds: 4,
  intervalSeconds: 1,
  rangeSeconds: 300,
};

describe('substituteVariables', () => {
  it('puts in the run’s values (regex-escaped for =~) and the built-in intervals', () => {
    expect(
      substituteVariables(
        'sum(rate(x{namespace=~"$namespace", deployment=~"${deployment}"}[$__rate_interval])) + increase(y[$__range])',
        vars,
      ),
    ).toBe('sum(rate(x{namespace=~"jetscale-demo-ab12", deployment=~"d\\.x"}[4s])) + increase(y[300s])');
  });

  it('refuses a variable it has no value for', () => {
    expect(() => substituteVariables('x{a=~"$nope"}', vars)).toThrow(/\$nope/);
  });

  it('leaves no variable in any query of the shipped dashboard', () => {
    const queries = panelQueries(overviewDashboard());
    expect(queries.length).toBeGreaterThan(40);
    for (const q of queries) expect(substituteVariables(q.expr, vars)).not.toMatch(/\$/);
  });
});

describe('panelQueries and groupByPanel', () => {
  it('list every panel’s targets and call a panel answered when one query has a sample', () => {
    const queries = panelQueries({
      panels: [
        { type: 'row', title: 'r', panels: [] },
        {
          type: 'timeseries',
          title: 'p',
          targets: [
            { expr: 'a', refId: 'A' },
            { expr: 'b', refId: 'B', instant: true },
          ],
        },
      ] as never,
    });
    expect(queries.map((q) => [q.panel, q.refId, q.instant])).toEqual([
      ['p', 'A', false],
      ['p', 'B', true],
    ]);
    const proofs = queries.map((q, i) => ({
      ...q,
      promql: q.expr,
      series: i === 1 ? [{ labels: {}, points: [[1, 2]] as Array<[number, number]> }] : [],
    }));
    expect(groupByPanel(proofs).map((p) => [p.panel, p.answered])).toEqual([['p', true]]);
    expect(groupByPanel(proofs.slice(0, 1)).map((p) => p.answered)).toEqual([false]);
  });
});

describe('parsePromResponse', () => {
  it('reads matrix and vector answers, dropping NaN samples', () => {
    expect(
      parsePromResponse({
        status: 'success',
        data: {
          resultType: 'matrix',
          result: [
            {
              metric: { a: '1' },
              values: [
                [1, '2'],
                [2, 'NaN'],
              ],
            },
          ],
        },
      }),
    ).toEqual([{ labels: { a: '1' }, points: [[1, 2]] }]);
    expect(
      parsePromResponse({
        status: 'success',
        data: { resultType: 'vector', result: [{ metric: {}, value: [5, '7'] }] },
      }),
    ).toEqual([{ labels: {}, points: [[5, 7]] }]);
  });

  it('throws with Prometheus’ error', () => {
    expect(() => parsePromResponse({ status: 'error', error: 'parse error at char 3' })).toThrow(
      /parse error/,
    );
  });
});

describe('agrees', () => {
  it.each([
    [100, 104, true],
    [100, 106, false],
    [10, 10, true],
    [10, 9, false],
  ])('%d against %d within 5 %%: %s', (a, b, ok) => {
    expect(agrees(a, b, 0.05)).toBe(ok);
  });
});
