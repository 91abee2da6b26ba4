// config.json of a BERT-family model, read and checked before anything is handed to native code.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError } from '../errors';
import type { NativeConfig } from '../native';
import { type Family, familyOf, SUPPORTED_MODEL_TYPES } from './families';

export interface ModelConfig extends NativeConfig {
  modelType: string;
  /** the architecture's entry in families.ts */
  family: Family;
  architectures: string[];
  padTokenId: number;
  /** the longest sequence the position table takes: max_position_embeddings, less padding_idx + 1 for RoBERTa's
   *  positions (514 → 512) */
  maxTokens: number;
  raw: Record<string, unknown>;
}

/** Bounds on each size, checked before anything is allocated from it (native check_config holds the same). A
 *  size past them is a broken or hostile file, not a model: the largest encoders in use stay far inside. */
const LIMITS = {
  vocabSize: [1, 1 << 24],
  hiddenSize: [1, 16384],
  numHiddenLayers: [1, 256],
  numAttentionHeads: [1, 16384],
  intermediateSize: [1, 65536],
  maxPositionEmbeddings: [2, 65536],
  typeVocabSize: [0, 1024],
  padTokenId: [0, (1 << 24) - 1],
  relativeAttentionBuckets: [4, 1024],
} as const;

function int(raw: Record<string, unknown>, key: string, file: string, limit: keyof typeof LIMITS, dflt?: number): number {
  const v = raw[key] ?? dflt;
  const [lo, hi] = LIMITS[limit];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new BertrtError(`${file}: "${key}" must be an integer in [${lo}, ${hi}] (got ${JSON.stringify(v)})`, 'E_MODEL_FORMAT');
  }
  return v;
}

/** A JSON object file (or, with `array`, a JSON array file); unreadable or malformed files are typed errors. */
export function readJson(file: string): Record<string, unknown>;
export function readJson(file: string, array: true): unknown[];
export function readJson(file: string, array = false): Record<string, unknown> | unknown[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new BertrtError(`cannot read ${file}: ${(e as Error).message}`, 'E_MODEL_NOT_FOUND');
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (array) {
      if (!Array.isArray(v)) throw new Error('not a JSON array');
      return v as unknown[];
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new BertrtError(`${file} is not valid JSON: ${(e as Error).message}`, 'E_MODEL_FORMAT');
  }
}

export function readConfig(dir: string): ModelConfig {
  const file = path.join(dir, 'config.json');
  const raw = readJson(file);
  const modelType = String(raw.model_type ?? '');
  const family = familyOf(modelType);
  if (!family) {
    throw new BertrtError(`${file}: model_type "${modelType}" is not supported (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`, 'E_UNSUPPORTED');
  }
  const cfg = family.modelTypes.includes('distilbert') ? distilbertConfig(raw, file, family)
    : family.modern ? modernConfig(raw, file, family)
    : family.rotary ? rotaryConfig(raw, file, family)
    : bertConfig(raw, file, family);
  if (cfg.numAttentionHeads === 0 || cfg.hiddenSize % cfg.numAttentionHeads !== 0) {
    const [h, n] = cfg.modelType === 'distilbert' ? ['dim', 'n_heads'] : ['hidden_size', 'num_attention_heads'];
    throw new BertrtError(`${file}: ${h} must be a multiple of ${n}`, 'E_MODEL_FORMAT');
  }
  if (family.positions === 'padding') {
    // RoBERTa's positions start after padding_idx (= pad_token_id): the table must hold it and one more
    if (cfg.padTokenId + 2 > cfg.maxPositionEmbeddings) {
      throw new BertrtError(`${file}: pad_token_id ${cfg.padTokenId} leaves no room in a position table of ${cfg.maxPositionEmbeddings}`, 'E_MODEL_FORMAT');
    }
    cfg.paddingIdx = cfg.padTokenId;
    cfg.maxTokens = cfg.maxPositionEmbeddings - cfg.padTokenId - 1;
  }
  return cfg;
}

/** the activations the engine runs: GELU's erf form and its tanh form under transformers' two names */
const GELUS = ['gelu', 'gelu_new', 'gelu_pytorch_tanh'];

/** BERT's config.json and the families that keep its field names (RoBERTa, XLM-R, CamemBERT, MPNet). */
function bertConfig(raw: Record<string, unknown>, file: string, family: Family): ModelConfig {
  const posType = raw.position_embedding_type ?? 'absolute';
  if (posType !== 'absolute') {
    throw new BertrtError(`${file}: position_embedding_type "${String(posType)}" is not supported`, 'E_UNSUPPORTED');
  }
  const hiddenAct = String(raw.hidden_act ?? (family.sharedLayers ? 'gelu_new' : 'gelu'));
  if (!GELUS.includes(hiddenAct)) {
    throw new BertrtError(`${file}: hidden_act "${hiddenAct}" is not supported (${GELUS.join(', ')})`, 'E_UNSUPPORTED');
  }
  const eps = raw.layer_norm_eps ?? 1e-12;
  if (typeof eps !== 'number' || !(eps > 0 && eps < 1)) {
    throw new BertrtError(`${file}: "layer_norm_eps" must be a number in (0, 1)`, 'E_MODEL_FORMAT');
  }
  const maxPositionEmbeddings = int(raw, 'max_position_embeddings', file, 'maxPositionEmbeddings');
  const cfg: ModelConfig = {
    modelType: String(raw.model_type),
    family,
    architectures: Array.isArray(raw.architectures) ? raw.architectures.map(String) : [],
    vocabSize: int(raw, 'vocab_size', file, 'vocabSize'),
    hiddenSize: int(raw, 'hidden_size', file, 'hiddenSize'),
    numHiddenLayers: int(raw, 'num_hidden_layers', file, 'numHiddenLayers'),
    numAttentionHeads: int(raw, 'num_attention_heads', file, 'numAttentionHeads'),
    intermediateSize: int(raw, 'intermediate_size', file, 'intermediateSize'),
    maxPositionEmbeddings,
    maxTokens: maxPositionEmbeddings,
    // MPNet has no token-type table whatever its config says
    typeVocabSize: family.typeVocabDefault === 0 ? 0 : int(raw, 'type_vocab_size', file, 'typeVocabSize', family.typeVocabDefault),
    layerNormEps: eps,
    hiddenAct,
    padTokenId: int(raw, 'pad_token_id', file, 'padTokenId', family.positions === 'padding' ? 1 : 0),
    raw,
  };
  if (family.factorized) {
    const e = int(raw, 'embedding_size', file, 'hiddenSize', family.sharedLayers ? 128 : cfg.hiddenSize);
    if (e !== cfg.hiddenSize) cfg.embeddingSize = e;
  }
  if (family.sharedLayers) {
    const groups = int(raw, 'num_hidden_groups', file, 'numHiddenLayers', 1);
    if (cfg.numHiddenLayers % groups !== 0) throw new BertrtError(`${file}: num_hidden_groups ${groups} does not divide num_hidden_layers ${cfg.numHiddenLayers}`, 'E_MODEL_FORMAT');
    const inner = raw.inner_group_num ?? 1;
    if (inner !== 1) throw new BertrtError(`${file}: inner_group_num ${JSON.stringify(inner)} is not supported (only 1, as every released ALBERT)`, 'E_UNSUPPORTED');
    cfg.layerGroups = groups;
  }
  if (family.disentangled) Object.assign(cfg, debertaFields(raw, file, cfg));
  if (family.relativeAttention) {
    cfg.relativeAttentionBuckets = int(raw, 'relative_attention_num_buckets', file, 'relativeAttentionBuckets', 32);
    if (cfg.relativeAttentionBuckets % 2 !== 0) throw new BertrtError(`${file}: "relative_attention_num_buckets" must be even`, 'E_MODEL_FORMAT');
    cfg.relativeAttentionMaxDistance = 128; // fixed in transformers' MPNet
  }
  return cfg;
}

/** DeBERTa-v2/v3's attention fields; the variants the engine does not run (v2-xlarge's conv layer, attention
 *  without both c2p and p2c, unshared position projections, a projected embedding) are refused by name. */
function debertaFields(raw: Record<string, unknown>, file: string, cfg: ModelConfig): Partial<ModelConfig> {
  const no = (what: string) => new BertrtError(`${file}: DeBERTa with ${what} is not supported`, 'E_UNSUPPORTED');
  if (raw.relative_attention !== true) throw no('relative_attention false');
  const types = (Array.isArray(raw.pos_att_type) ? raw.pos_att_type.map(String) : String(raw.pos_att_type ?? '').toLowerCase().split('|')).map((t) => t.trim());
  if (!(types.includes('c2p') && types.includes('p2c')) || types.length !== 2) throw no(`pos_att_type ${JSON.stringify(raw.pos_att_type)} (only c2p and p2c together)`);
  if (raw.share_att_key !== true) throw no('share_att_key false');
  if (typeof raw.conv_kernel_size === 'number' && raw.conv_kernel_size > 0) throw no('a convolution layer (conv_kernel_size)');
  if (raw.embedding_size !== undefined && raw.embedding_size !== cfg.hiddenSize) throw no('embedding_size different from hidden_size');
  const rawBuckets = raw.position_buckets ?? -1;
  const buckets = typeof rawBuckets === 'number' && rawBuckets > 0 ? int(raw, 'position_buckets', file, 'maxPositionEmbeddings') : 0;
  const rawMax = raw.max_relative_positions ?? -1;
  const maxRel = typeof rawMax === 'number' && rawMax >= 1 ? int(raw, 'max_relative_positions', file, 'maxPositionEmbeddings') : cfg.maxPositionEmbeddings;
  const norm = String(raw.norm_rel_ebd ?? 'none').toLowerCase().split('|').map((t) => t.trim());
  const positionTable = raw.position_biased_input !== false;
  return {
    disentangled: { span: buckets > 0 ? buckets : maxRel, buckets: Math.max(0, buckets), maxRelativePositions: maxRel, normRel: norm.includes('layer_norm'), positionTable },
  };
}

/** ModernBERT's config.json: the Hub's fields (global_attn_every_n_layers, local_attention, global_rope_theta,
 *  local_rope_theta) or transformers 5's (layer_types, rope_parameters); biases off unless it says otherwise. */
function modernConfig(raw: Record<string, unknown>, file: string, family: Family): ModelConfig {
  const act = String(raw.hidden_activation ?? 'gelu');
  if (!GELUS.includes(act)) throw new BertrtError(`${file}: hidden_activation "${act}" is not supported (${GELUS.join(', ')})`, 'E_UNSUPPORTED');
  const eps = raw.norm_eps ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0 && eps < 1)) throw new BertrtError(`${file}: "norm_eps" must be a number in (0, 1)`, 'E_MODEL_FORMAT');
  const layers = int(raw, 'num_hidden_layers', file, 'numHiddenLayers');
  let every = int(raw, 'global_attn_every_n_layers', file, 'numHiddenLayers', 3);
  if (Array.isArray(raw.layer_types)) {
    // transformers 5 spells the pattern out; the engine runs the periodic one it comes from
    const types = raw.layer_types.map(String);
    const n = types.indexOf('full_attention', 1);
    every = n > 0 ? n : layers;
    if (types.length !== layers || types.some((t, i) => t !== (i % every === 0 ? 'full_attention' : 'sliding_attention'))) {
      throw new BertrtError(`${file}: layer_types ${JSON.stringify(types)} is not a global layer every n layers`, 'E_UNSUPPORTED');
    }
  }
  const rope = (raw.rope_parameters ?? {}) as Record<string, { rope_theta?: unknown; rope_type?: unknown } | undefined>;
  const theta = (kind: 'full_attention' | 'sliding_attention', legacy: string, dflt: number): number => {
    const p = rope[kind];
    if (p && p.rope_type !== undefined && p.rope_type !== 'default') throw new BertrtError(`${file}: rope_type "${String(p.rope_type)}" is not supported`, 'E_UNSUPPORTED');
    const v = p?.rope_theta ?? raw[legacy] ?? dflt;
    if (typeof v !== 'number' || !(v > 1 && v < 1e12)) throw new BertrtError(`${file}: the ${kind} rope_theta must be a number > 1`, 'E_MODEL_FORMAT');
    return v;
  };
  const local = int(raw, 'local_attention', file, 'maxPositionEmbeddings', 128);
  const maxPositionEmbeddings = int(raw, 'max_position_embeddings', file, 'maxPositionEmbeddings');
  return {
    modelType: 'modernbert',
    family,
    architectures: Array.isArray(raw.architectures) ? raw.architectures.map(String) : [],
    vocabSize: int(raw, 'vocab_size', file, 'vocabSize'),
    hiddenSize: int(raw, 'hidden_size', file, 'hiddenSize'),
    numHiddenLayers: layers,
    numAttentionHeads: int(raw, 'num_attention_heads', file, 'numAttentionHeads'),
    intermediateSize: int(raw, 'intermediate_size', file, 'intermediateSize'),
    maxPositionEmbeddings,
    maxTokens: maxPositionEmbeddings,
    typeVocabSize: 0,
    layerNormEps: eps,
    hiddenAct: act,
    padTokenId: int(raw, 'pad_token_id', file, 'padTokenId', 0),
    modern: {
      normBias: raw.norm_bias === true,
      attentionBias: raw.attention_bias === true,
      mlpBias: raw.mlp_bias === true,
      ropeThetaGlobal: theta('full_attention', 'global_rope_theta', 160000),
      ropeThetaLocal: theta('sliding_attention', 'local_rope_theta', 10000),
      globalEvery: every,
      localWindow: Math.floor(local / 2),
    },
    raw,
  };
}

/** A rope theta from transformers 5's rope_parameters ({rope_type: "default", rope_theta}) or the older rope_theta
 *  (`types`: the rope_types the caller handles). */
function ropeTheta(raw: Record<string, unknown>, file: string, dflt: number, types: readonly string[] = ['default']): number {
  const p = raw.rope_parameters as { rope_theta?: unknown; rope_type?: unknown } | undefined;
  if (p && p.rope_type !== undefined && !types.includes(String(p.rope_type))) throw new BertrtError(`${file}: rope_type "${String(p.rope_type)}" is not supported (${types.map((t) => `"${t}"`).join(', ')})`, 'E_UNSUPPORTED');
  const v = p?.rope_theta ?? raw.rope_theta ?? dflt;
  if (typeof v !== 'number' || !(v > 1 && v < 1e12)) throw new BertrtError(`${file}: rope_theta must be a number > 1`, 'E_MODEL_FORMAT');
  return v;
}

/** NomicBERT's and GTE's config.json: transformers 5's fields (BERT's names, rope_parameters), or the remote-code
 *  configs the Hub repositories ship: NomicBERT's GPT-2 names (n_embd, n_layer, n_head, n_inner, n_positions,
 *  layer_norm_epsilon, rotary_emb_base, activation_function "swiglu", qkv_proj_bias, mlp_fc1_bias, mlp_fc2_bias),
 *  GTE's "new" model (rope_theta, rope_scaling {type: "ntk", factor}, position_embedding_type "rope"). The variants
 *  the engine does not run (pre-norm, interleaved or partial rotary, RMSNorm, MoE layers, log-n attention scaling)
 *  are refused by name. */
function rotaryConfig(raw: Record<string, unknown>, file: string, family: Family): ModelConfig {
  const no = (what: string) => new BertrtError(`${file}: ${family.name} with ${what} is not supported`, 'E_UNSUPPORTED');
  const nomic = family.modelTypes.includes('nomic_bert');
  const remote = nomic && raw.n_embd !== undefined; // nomic-ai's remote-code config (GPT-2's field names)
  const key = (bert: string, gpt2: string) => (remote ? gpt2 : bert);
  let hiddenAct: string;
  let theta: number;
  let ntk = 1;
  let biases: { attention: boolean; mlpIn: boolean; mlpOut: boolean };
  let dynamic: { factor: number; trained: number } | undefined;
  let limit: number | undefined; // the longest input, where the config does not give it as max_position_embeddings
  const factorOf = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !(v >= 1 && v <= 1024)) throw new BertrtError(`${file}: ${what} must be a number in [1, 1024]`, 'E_MODEL_FORMAT');
    return v;
  };
  if (remote) {
    if (raw.prenorm === true) throw no('prenorm true');
    if (raw.rotary_emb_fraction !== undefined && raw.rotary_emb_fraction !== 1) throw no(`rotary_emb_fraction ${JSON.stringify(raw.rotary_emb_fraction)} (only 1)`);
    if (raw.rotary_emb_interleaved === true) throw no('interleaved rotary embeddings');
    if (raw.use_rms_norm === true) throw no('RMSNorm (use_rms_norm)');
    if (raw.causal === true) throw no('causal attention');
    if (typeof raw.moe_every_n_layers === 'number' && raw.moe_every_n_layers > 0) throw no('mixture-of-experts layers (moe_every_n_layers)');
    const fn = String(raw.activation_function ?? 'swiglu');
    if (fn !== 'swiglu') throw no(`activation_function "${fn}" (only "swiglu")`);
    hiddenAct = 'silu';
    const base = raw.rotary_emb_base ?? 1000;
    if (typeof base !== 'number' || !(base > 1 && base < 1e12)) throw new BertrtError(`${file}: rotary_emb_base must be a number > 1`, 'E_MODEL_FORMAT');
    theta = base;
    biases = { attention: raw.qkv_proj_bias !== false, mlpIn: raw.mlp_fc1_bias !== false, mlpOut: raw.mlp_fc2_bias !== false };
    // rotary_scaling_factor: the remote code's dynamic NTK scaling past max_trained_positions (its inputs run up to
    // n_positions); the engine scales each sequence by its own length, as the remote code does a batch of one
    if (raw.rotary_scaling_factor !== undefined && raw.rotary_scaling_factor !== null) {
      dynamic = { factor: factorOf(raw.rotary_scaling_factor, 'rotary_scaling_factor'), trained: int(raw, 'max_trained_positions', file, 'maxPositionEmbeddings', 2048) };
    }
  } else {
    if (!nomic) {
      // GTE's remote-code fields; transformers 5's GteConfig has none of them
      if (raw.position_embedding_type !== undefined && raw.position_embedding_type !== 'rope') throw no(`position_embedding_type "${String(raw.position_embedding_type)}" (only "rope")`);
      if (raw.layer_norm_type !== undefined && raw.layer_norm_type !== 'layer_norm') throw no(`layer_norm_type "${String(raw.layer_norm_type)}"`);
      if (raw.logn_attention_scale === true || raw.logn_attention_clip1 === true) throw no('log-n attention scaling');
      const scaling = raw.rope_scaling as { type?: unknown; rope_type?: unknown; factor?: unknown } | null | undefined;
      if (scaling) {
        const type = scaling.type ?? scaling.rope_type;
        if (type !== 'ntk') throw no(`rope_scaling type ${JSON.stringify(type)} (only "ntk")`);
        if (typeof scaling.factor !== 'number' || !(scaling.factor >= 1 && scaling.factor <= 1024)) throw new BertrtError(`${file}: rope_scaling.factor must be a number in [1, 1024]`, 'E_MODEL_FORMAT');
        ntk = scaling.factor;
      }
    }
    hiddenAct = String(raw.hidden_act ?? (nomic ? 'silu' : 'gelu'));
    theta = ropeTheta(raw, file, nomic ? 1000 : 160000, nomic ? ['default', 'dynamic'] : ['default']);
    const rope = raw.rope_parameters as { rope_type?: unknown; factor?: unknown } | undefined;
    if (rope?.rope_type === 'dynamic') {
      // transformers' dynamic NTK: max_position_embeddings is the trained length, past which each input is scaled;
      // the engine takes inputs up to factor times that
      const trained = int(raw, 'max_position_embeddings', file, 'maxPositionEmbeddings', 2048);
      dynamic = { factor: factorOf(rope.factor, 'rope_parameters.factor'), trained };
      limit = Math.min(65536, Math.floor(trained * dynamic.factor));
    }
    biases = nomic ? { attention: false, mlpIn: false, mlpOut: false } : { attention: true, mlpIn: false, mlpOut: true };
  }
  if (![...GELUS, 'silu'].includes(hiddenAct)) throw no(`hidden_act "${hiddenAct}" (${[...GELUS, 'silu'].join(', ')})`);
  const eps = raw[key('layer_norm_eps', 'layer_norm_epsilon')] ?? (remote ? 1e-5 : 1e-12); // (the remote config extends GPT2Config: 1e-5)
  if (typeof eps !== 'number' || !(eps > 0 && eps < 1)) throw new BertrtError(`${file}: "${key('layer_norm_eps', 'layer_norm_epsilon')}" must be a number in (0, 1)`, 'E_MODEL_FORMAT');
  const maxPositionEmbeddings = limit ?? int(raw, key('max_position_embeddings', 'n_positions'), file, 'maxPositionEmbeddings', nomic ? 2048 : 8192);
  if (dynamic && dynamic.trained > maxPositionEmbeddings) throw new BertrtError(`${file}: the trained length ${dynamic.trained} exceeds the position limit ${maxPositionEmbeddings}`, 'E_MODEL_FORMAT');
  const hiddenSize = int(raw, key('hidden_size', 'n_embd'), file, 'hiddenSize');
  const heads = int(raw, key('num_attention_heads', 'n_head'), file, 'numAttentionHeads');
  if (hiddenSize % heads === 0 && (hiddenSize / heads) % 2 !== 0) throw no(`an odd head size (${hiddenSize / heads}): RoPE rotates pairs`);
  return {
    modelType: String(raw.model_type),
    family,
    architectures: Array.isArray(raw.architectures) ? raw.architectures.map(String) : [],
    vocabSize: int(raw, 'vocab_size', file, 'vocabSize'),
    hiddenSize,
    numHiddenLayers: int(raw, key('num_hidden_layers', 'n_layer'), file, 'numHiddenLayers'),
    numAttentionHeads: heads,
    intermediateSize: int(raw, key('intermediate_size', 'n_inner'), file, 'intermediateSize', remote ? 4 * hiddenSize : undefined),
    maxPositionEmbeddings,
    maxTokens: maxPositionEmbeddings,
    typeVocabSize: int(raw, 'type_vocab_size', file, 'typeVocabSize', nomic ? 2 : 1),
    layerNormEps: eps,
    hiddenAct,
    padTokenId: int(raw, 'pad_token_id', file, 'padTokenId', nomic ? 0 : 1),
    rotary: { theta, ntk, ...(dynamic ? { dynamic } : {}) },
    gatedFfn: true,
    biases,
    raw,
  };
}

/** DistilBERT's config.json under BERT's field names: same encoder, no token types, LayerNorm eps 1e-12. */
function distilbertConfig(raw: Record<string, unknown>, file: string, family: Family): ModelConfig {
  if (raw.sinusoidal_pos_embds === true) throw new BertrtError(`${file}: sinusoidal position embeddings are not supported`, 'E_UNSUPPORTED');
  const act = String(raw.activation ?? 'gelu');
  if (act !== 'gelu') throw new BertrtError(`${file}: activation "${act}" is not supported (only "gelu")`, 'E_UNSUPPORTED');
  const maxPositionEmbeddings = int(raw, 'max_position_embeddings', file, 'maxPositionEmbeddings');
  return {
    modelType: 'distilbert',
    family,
    architectures: Array.isArray(raw.architectures) ? raw.architectures.map(String) : [],
    vocabSize: int(raw, 'vocab_size', file, 'vocabSize'),
    hiddenSize: int(raw, 'dim', file, 'hiddenSize'),
    numHiddenLayers: int(raw, 'n_layers', file, 'numHiddenLayers'),
    numAttentionHeads: int(raw, 'n_heads', file, 'numAttentionHeads'),
    intermediateSize: int(raw, 'hidden_dim', file, 'intermediateSize'),
    maxPositionEmbeddings,
    maxTokens: maxPositionEmbeddings,
    typeVocabSize: 0,
    layerNormEps: 1e-12,
    hiddenAct: act,
    padTokenId: int(raw, 'pad_token_id', file, 'padTokenId', 0),
    raw,
  };
}
