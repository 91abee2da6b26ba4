// Checks a weights file against config.json for the encoder (every family, under the encoder's names) before native code reads it: every tensor the
// encoder needs must exist with the shape the config implies. Native re-checks; this gives the friendlier message.
import { BertrtError } from '../errors';
import type { NativeTensorDesc } from '../native';
import type { ModelConfig } from './config';

/** How many layers' weights the file holds: one per layer, or one per group where layers share them (ALBERT). */
function weightLayers(c: ModelConfig): number {
  return c.layerGroups ?? c.numHiddenLayers;
}

/** ModernBERT's tensors (under the encoder's names, families.ts): biases only where the config has them. */
function modernShapes(c: ModelConfig): Map<string, number[]> {
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const m = c.modern!;
  const out = new Map<string, number[]>([['embeddings.word_embeddings.weight', [c.vocabSize, H]]]);
  const norm = (n: string) => {
    out.set(`${n}.weight`, [H]);
    if (m.normBias) out.set(`${n}.bias`, [H]);
  };
  const linear = (n: string, rows: number, cols: number, bias: boolean) => {
    out.set(`${n}.weight`, [rows, cols]);
    if (bias) out.set(`${n}.bias`, [rows]);
  };
  norm('embeddings.LayerNorm');
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const p = `encoder.layer.${l}.`;
    if (l > 0) norm(`${p}attn_norm`);
    linear(`${p}attn.Wqkv`, 3 * H, H, m.attentionBias);
    linear(`${p}attn.Wo`, H, H, m.attentionBias);
    norm(`${p}mlp_norm`);
    linear(`${p}mlp.Wi`, 2 * I, H, m.mlpBias);
    linear(`${p}mlp.Wo`, H, I, m.mlpBias);
  }
  norm('encoder.final_norm');
  return out;
}

/** NomicBERT's and GTE's tensors (under the encoder's names): BERT's layer without a position table, biases where the
 *  config has them, the gated FFN's second input projection as intermediate.up. */
function rotaryShapes(c: ModelConfig): Map<string, number[]> {
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const b = c.biases ?? { attention: true, mlpIn: true, mlpOut: true };
  const out = new Map<string, number[]>([
    ['embeddings.word_embeddings.weight', [c.vocabSize, H]],
    ['embeddings.LayerNorm.weight', [H]],
    ['embeddings.LayerNorm.bias', [H]],
  ]);
  if (c.typeVocabSize > 0) out.set('embeddings.token_type_embeddings.weight', [c.typeVocabSize, H]);
  const linear = (n: string, rows: number, cols: number, bias: boolean) => {
    out.set(`${n}.weight`, [rows, cols]);
    if (bias) out.set(`${n}.bias`, [rows]);
  };
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const p = `encoder.layer.${l}.`;
    for (const q of ['query', 'key', 'value']) linear(`${p}attention.self.${q}`, H, H, b.attention);
    linear(`${p}attention.output.dense`, H, H, b.attention);
    out.set(`${p}attention.output.LayerNorm.weight`, [H]);
    out.set(`${p}attention.output.LayerNorm.bias`, [H]);
    linear(`${p}intermediate.dense`, I, H, b.mlpIn);
    if (c.gatedFfn) linear(`${p}intermediate.up`, I, H, b.mlpIn);
    linear(`${p}output.dense`, H, I, b.mlpOut);
    out.set(`${p}output.LayerNorm.weight`, [H]);
    out.set(`${p}output.LayerNorm.bias`, [H]);
  }
  return out;
}

export function expectedEncoderShapes(c: ModelConfig): Map<string, number[]> {
  if (c.modern) return modernShapes(c);
  if (c.rotary) return rotaryShapes(c);
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const E = c.embeddingSize ?? H;
  const m = new Map<string, number[]>([
    ['embeddings.word_embeddings.weight', [c.vocabSize, E]],
    ['embeddings.position_embeddings.weight', [c.maxPositionEmbeddings, E]],
    ['embeddings.LayerNorm.weight', [E]],
    ['embeddings.LayerNorm.bias', [E]],
  ]);
  if (c.embeddingSize) {
    m.set('embeddings.project.weight', [H, E]);
    m.set('embeddings.project.bias', [H]);
  }
  if (c.typeVocabSize > 0) m.set('embeddings.token_type_embeddings.weight', [c.typeVocabSize, E]);
  if (c.relativeAttentionBuckets) m.set('encoder.relative_attention_bias.weight', [c.relativeAttentionBuckets, c.numAttentionHeads]);
  if (c.disentangled) {
    if (!c.disentangled.positionTable) m.delete('embeddings.position_embeddings.weight');
    m.set('encoder.rel_embeddings.weight', [2 * c.disentangled.span, H]);
    if (c.disentangled.normRel) {
      m.set('encoder.LayerNorm.weight', [H]);
      m.set('encoder.LayerNorm.bias', [H]);
    }
  }
  for (let l = 0; l < weightLayers(c); l++) {
    const p = `encoder.layer.${l}.`;
    for (const q of ['query', 'key', 'value']) {
      m.set(`${p}attention.self.${q}.weight`, [H, H]);
      m.set(`${p}attention.self.${q}.bias`, [H]);
    }
    m.set(`${p}attention.output.dense.weight`, [H, H]);
    m.set(`${p}attention.output.dense.bias`, [H]);
    m.set(`${p}attention.output.LayerNorm.weight`, [H]);
    m.set(`${p}attention.output.LayerNorm.bias`, [H]);
    m.set(`${p}intermediate.dense.weight`, [I, H]);
    m.set(`${p}intermediate.dense.bias`, [I]);
    m.set(`${p}output.dense.weight`, [H, I]);
    m.set(`${p}output.dense.bias`, [H]);
    m.set(`${p}output.LayerNorm.weight`, [H]);
    m.set(`${p}output.LayerNorm.bias`, [H]);
  }
  return m;
}

export function checkEncoderWeights(c: ModelConfig, tensors: NativeTensorDesc[], file: string): void {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  // the layer count first, from the names alone: a config that claims more layers than the file holds is refused
  // before one expectation per layer is built
  let layers = 0;
  for (const t of tensors) {
    const m = /^encoder\.layer\.(\d{1,6})\./.exec(t.name);
    if (m) layers = Math.max(layers, Number(m[1]) + 1);
  }
  if (weightLayers(c) > layers) {
    throw new BertrtError(`${file}: missing tensors for a ${c.family.name} encoder: config.json says ${weightLayers(c)} layers, the weights hold ${layers} (nothing under encoder.layer.${layers}.)`, 'E_MODEL_FORMAT');
  }
  const missing: string[] = [];
  for (const [name, shape] of expectedEncoderShapes(c)) {
    const t = byName.get(name);
    if (!t) {
      missing.push(name);
      continue;
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new BertrtError(
        `${file}: tensor "${name}" has shape [${t.shape.join(', ')}] but config.json implies [${shape.join(', ')}]`,
        'E_SHAPE',
      );
    }
  }
  if (missing.length > 0) {
    const list = missing.slice(0, 5).join(', ') + (missing.length > 5 ? `, … (${missing.length} in all)` : '');
    throw new BertrtError(`${file}: missing tensors for a ${c.family.name} encoder: ${list}`, 'E_MODEL_FORMAT');
  }
}
