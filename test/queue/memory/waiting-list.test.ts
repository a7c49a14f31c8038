import { WaitingList } from '../../../src/queue/memory/waiting-list';

describe('WaitingList', () => {
  it('orders by priority, first in first out within one, hand-backs first in theirs', () => {
    const list = new WaitingList();
    list.push('a', 100);
    list.push('b', 100);
    list.push('urgent', 1);
    list.push('c', 100);
    list.pushFront('back', 100);
    list.push('late', 500);
    expect(['urgent', 'back', 'a', 'b', 'c', 'late'].map((id) => list.position(id))).toEqual([
      0, 1, 2, 3, 4, 5,
    ]);
    expect(list.remove('a')).toBe(true);
    expect(list.remove('a')).toBe(false);
    expect(list.position('a')).toBeUndefined();
    expect([list.shift(), list.shift(), list.size]).toEqual(['urgent', 'back', 3]);
  });
});
