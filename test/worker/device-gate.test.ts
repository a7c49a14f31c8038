import { DeviceGate } from '../../src/worker/device-gate';

describe('DeviceGate', () => {
  it('admits as many jobs as it has slots, the next in arrival order as one leaves', async () => {
    const gate = new DeviceGate(1);
    const order: string[] = [];
    const leaveA = await gate.enter();
    const b = gate.enter().then((leave) => (order.push('b'), leave));
    const c = gate.enter().then((leave) => (order.push('c'), leave));
    await Promise.resolve();
    expect(order).toEqual([]);
    leaveA();
    // Leaving twice gives back one slot, not two.
    leaveA();
    const leaveB = await b;
    expect(order).toEqual(['b']);
    leaveB();
    (await c)();
    expect(order).toEqual(['b', 'c']);
  });

  it('stops the wait of a job aborted before its turn, with the abort reason, and skips it', async () => {
    const gate = new DeviceGate(1);
    const leaveA = await gate.enter();
    const controller = new AbortController();
    const reason = new Error('canceled while waiting');
    const waiting = gate.enter(controller.signal);
    const next = gate.enter();
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    leaveA();
    // The slot went to the job behind the aborted one.
    await expect(next).resolves.toEqual(expect.any(Function));
  });
});
