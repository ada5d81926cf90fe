import { engine, type OpObserver, type OpRecord } from '../engine/engine.ts';
import type { Attrs } from '../engine/kernel_registry.ts';
import { add } from '../engine/ops/elementwise.ts';
import { zeros, ones } from '../engine/ops/creation.ts';
import { type Shape, sameShape, shapeString } from '../engine/shape.ts';
import type { Tensor } from '../engine/tensor.ts';
import { gradientRule, isNonDifferentiable, type GradientRule } from './gradient_registry.ts';

const NO_RULE: GradientRule = { saves: [], inputs: {} };

/** One application of a gradient rule during a backward pass (for teaching and debugging). */
export interface TraceEntry {
  op: string;
  input: string;
  dyShape: Shape;
  gradShape: Shape;
  /** Whether this gradient was added to one already flowing into the same tensor (fan-out). */
  accumulated: boolean;
}

/** One recorded op: ids and shapes only, plus the tensors its rule saved. */
interface TapeNode {
  op: string;
  rule: GradientRule;
  /** input name -> tensor id */
  inputIds: Record<string, number>;
  shapes: Record<string, Shape>;
  outputId: number;
  attrs: Attrs;
  saved: Record<string, Tensor>;
}

/**
 * Records ops while active; afterwards `gradient(target, sources)` walks the record
 * backwards (reverse mode), applying each op's gradient rule and summing the
 * contributions of every use of a tensor. Sources may be inputs or intermediate tensors.
 */
export class Tape implements OpObserver {
  private nodes: TapeNode[] = [];
  private recording = false;
  /**
   * With `onlyWatched`, only ops that (transitively) consume a watched tensor are
   * recorded, so nothing upstream of the sources is saved (Grad-CAM's forward pass
   * up to the conv layer costs no tape memory).
   */
  private tracked: Set<number> | undefined;

  constructor(o: { onlyWatched?: boolean } = {}) {
    if (o.onlyWatched) this.tracked = new Set();
  }

  /** Marks a tensor as a source whose downstream ops must be recorded (onlyWatched mode). */
  watch(t: Tensor): void {
    this.tracked?.add(t.id);
  }

  /** Runs fn with this tape watching every op. */
  record<T>(fn: () => T): T {
    engine.addObserver(this);
    this.recording = true;
    try {
      return fn();
    } finally {
      this.recording = false;
      engine.removeObserver(this);
    }
  }

  onOp(rec: OpRecord): void {
    if (!this.recording) return;
    if (isNonDifferentiable(rec.op)) return;
    if (this.tracked) {
      if (!Object.values(rec.inputs).some((t) => this.tracked!.has(t.id))) return;
      this.tracked.add(rec.output.id);
    }
    // An op without a rule is still recorded: the error comes only if a gradient must flow through it.
    const rule = gradientRule(rec.op) ?? NO_RULE;
    const inputIds: Record<string, number> = {};
    const shapes: Record<string, Shape> = { y: rec.output.shape };
    for (const [name, t] of Object.entries(rec.inputs)) {
      inputIds[name] = t.id;
      shapes[name] = t.shape;
    }
    const saved: Record<string, Tensor> = {};
    for (const entry of rule.saves) {
      // 'name?' saves an optional input when the op was given one
      const optional = entry.endsWith('?');
      const name = optional ? entry.slice(0, -1) : entry;
      const t = name === 'y' ? rec.output : rec.inputs[name];
      if (!t) {
        if (optional) continue;
        throw new Error(`autodiff: rule for '${rec.op}' saves '${name}', which the op does not have`);
      }
      saved[name] = engine.retain(t);
    }
    this.nodes.push({ op: rec.op, rule, inputIds, shapes, outputId: rec.output.id, attrs: rec.attrs, saved });
  }

  get length(): number {
    return this.nodes.length;
  }

  /**
   * d(sum of target * dy)/d(source) for each source (dy defaults to ones, so a
   * non-scalar target is summed). A source the target does not depend on gets zeros.
   */
  gradient(target: Tensor, sources: readonly Tensor[], dy?: Tensor, trace?: (e: TraceEntry) => void): Tensor[] {
    if (dy && !sameShape(dy.shape, target.shape)) {
      throw new Error(`gradient: dy ${shapeString(dy.shape)} does not match the target ${shapeString(target.shape)}`);
    }
    const wanted = new Set(sources.map((s) => s.id));
    // Forward sweep: which tensors depend on a source.
    const fromSource = new Set(wanted);
    for (const n of this.nodes) {
      if (Object.values(n.inputIds).some((id) => fromSource.has(id))) fromSource.add(n.outputId);
    }
    // Backward sweep: which of those the target depends on.
    const toTarget = new Set([target.id]);
    const used: TapeNode[] = [];
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i];
      if (!toTarget.has(n.outputId) || !fromSource.has(n.outputId)) continue;
      used.push(n);
      for (const id of Object.values(n.inputIds)) if (fromSource.has(id)) toTarget.add(id);
    }

    return engine.tidy(() => {
      const grads = new Map<number, Tensor>();
      grads.set(target.id, dy ? engine.retain(dy, true) : ones(target.shape));
      const accumulate = (id: number, g: Tensor) => {
        const prev = grads.get(id);
        if (!prev) return grads.set(id, g);
        grads.set(id, add(prev, g));
        prev.dispose();
        g.dispose();
      };
      for (const n of used) {
        const g = grads.get(n.outputId);
        if (!g) continue;
        for (const [name, id] of Object.entries(n.inputIds)) {
          if (!toTarget.has(id)) continue;
          const fn = n.rule.inputs[name];
          if (!fn) throw new Error(`autodiff: op '${n.op}' has no gradient with respect to its input '${name}'`);
          let gi = fn({ dy: g, saved: n.saved, attrs: n.attrs, shapes: n.shapes });
          // A rule may pass dy (or a saved tensor) straight through: give it its own
          // handle on the buffer so that disposing one does not dispose the other.
          if (gi === g || Object.values(n.saved).includes(gi)) gi = engine.retain(gi, true);
          if (!sameShape(gi.shape, n.shapes[name])) {
            throw new Error(`autodiff: gradient rule of '${n.op}' gave ${shapeString(gi.shape)} for input '${name}' of shape ${shapeString(n.shapes[name])}`);
          }
          trace?.({ op: n.op, input: name, dyShape: g.shape, gradShape: gi.shape, accumulated: grads.has(id) });
          accumulate(id, gi);
        }
        if (!wanted.has(n.outputId)) {
          grads.delete(n.outputId);
          g.dispose();
        }
      }
      return sources.map((s) => grads.get(s.id) ?? zeros(s.shape));
    });
  }

  /** Releases the tensors saved for the backward pass. */
  dispose(): void {
    for (const n of this.nodes) for (const t of Object.values(n.saved)) t.dispose();
    this.nodes = [];
  }
}
