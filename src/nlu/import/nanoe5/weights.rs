//! Weights: E5S1 tensor names → Hugging Face BERT names, Q4_0 dequantisation, and the
//! streamed f32 `model.safetensors` plus `config.json` that candle's `BertModel` loads.
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use half::f16;
use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::Dtype;
use sha2::{Digest, Sha256};

use super::error::ImportError;
use super::format::{E5s1, Hyper, SrcDtype, SrcTensor, Q4_BLOCK, Q4_BLOCK_BYTES};

/// One output tensor: its BERT name and shape, and the source tensor it comes from.
#[derive(Debug)]
pub struct Planned<'a> {
    pub name: String,
    pub shape: Vec<usize>,
    pub src: &'a SrcTensor<'a>,
}

/// Maps every tensor the BERT encoder needs to its source, checking presence and sizes.
/// The result is sorted by name, the order `safetensors` itself writes.
pub fn plan<'a>(model: &'a E5s1<'a>, path: &Path) -> Result<Vec<Planned<'a>>, ImportError> {
    let wanted = wanted(&model.hyper);
    let mut planned = Vec::with_capacity(wanted.len());
    for Wanted {
        src: src_name,
        name,
        shape,
    } in wanted
    {
        let src = model
            .tensor(&src_name)
            .ok_or_else(|| ImportError::MissingTensor {
                path: path.to_owned(),
                name: src_name.clone(),
            })?;
        let elements: usize = shape.iter().product();
        let rows_whole_blocks =
            src.dtype == SrcDtype::F32 || shape[shape.len() - 1] % Q4_BLOCK == 0;
        if src.elements != elements || !rows_whole_blocks {
            return Err(ImportError::TensorSize {
                path: path.to_owned(),
                name: src_name,
                found: format!("{} {:?} elements", src.elements, src.dtype),
                expected: format!("{elements} elements, shape {shape:?}"),
            });
        }
        planned.push(Planned { name, shape, src });
    }
    planned.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(planned)
}

/// A tensor the BERT encoder needs: its name in the source file, its Hugging Face name, its shape.
struct Wanted {
    src: String,
    name: String,
    shape: Vec<usize>,
}

impl Wanted {
    fn new(src: impl Into<String>, name: impl Into<String>, shape: Vec<usize>) -> Self {
        Self {
            src: src.into(),
            name: name.into(),
            shape,
        }
    }
}

/// The embeddings, then every layer's linear maps and layer norms.
fn wanted(hyper: &Hyper) -> Vec<Wanted> {
    let h = hyper.hidden;
    let mut wanted = vec![
        Wanted::new(
            "emb.word",
            "embeddings.word_embeddings.weight",
            vec![hyper.vocab, h],
        ),
        Wanted::new(
            "emb.pos",
            "embeddings.position_embeddings.weight",
            vec![hyper.max_positions, h],
        ),
        Wanted::new(
            "emb.type",
            "embeddings.token_type_embeddings.weight",
            vec![hyper.type_vocab, h],
        ),
        Wanted::new("emb.ln.w", "embeddings.LayerNorm.weight", vec![h]),
        Wanted::new("emb.ln.b", "embeddings.LayerNorm.bias", vec![h]),
    ];
    for layer in 0..hyper.layers {
        wanted.extend(layer_tensors(layer, h, hyper.intermediate));
    }
    wanted
}

/// Layer `layer`: six linear maps (weight and bias) and two layer norms.
fn layer_tensors(layer: usize, h: usize, ff: usize) -> Vec<Wanted> {
    let mut wanted = Vec::new();
    let linear = [
        ("q", "attention.self.query", h, h),
        ("k", "attention.self.key", h, h),
        ("v", "attention.self.value", h, h),
        ("ao", "attention.output.dense", h, h),
        ("fi", "intermediate.dense", ff, h),
        ("fo", "output.dense", h, ff),
    ];
    for (src, dst, nout, nin) in linear {
        let (src, dst) = (
            format!("l{layer}.{src}"),
            format!("encoder.layer.{layer}.{dst}"),
        );
        wanted.push(Wanted::new(
            format!("{src}.w"),
            format!("{dst}.weight"),
            vec![nout, nin],
        ));
        wanted.push(Wanted::new(
            format!("{src}.b"),
            format!("{dst}.bias"),
            vec![nout],
        ));
    }
    for (src, dst) in [
        ("aln", "attention.output.LayerNorm"),
        ("oln", "output.LayerNorm"),
    ] {
        let (src, dst) = (
            format!("l{layer}.{src}"),
            format!("encoder.layer.{layer}.{dst}"),
        );
        wanted.push(Wanted::new(
            format!("{src}.w"),
            format!("{dst}.weight"),
            vec![h],
        ));
        wanted.push(Wanted::new(
            format!("{src}.b"),
            format!("{dst}.bias"),
            vec![h],
        ));
    }
    wanted
}

/// Source tensors that [`plan`] does not use (recorded in `import.json`).
pub fn unused<'a>(model: &'a E5s1<'a>, planned: &[Planned<'_>]) -> Vec<&'a str> {
    model
        .tensors
        .iter()
        .filter(|t| !planned.iter().any(|p| p.src.name == t.name))
        .map(|t| t.name.as_str())
        .collect()
}

/// What [`write_safetensors`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    pub bytes: u64,
    pub sha256: String,
    pub parameters: u64,
}

/// Writes `planned` as an f32 safetensors file, dequantising Q4_0 tensors block by block
/// so memory stays small (the word embedding alone is 384 MB as f32).
pub fn write_safetensors(planned: &[Planned<'_>], path: &Path) -> io::Result<Written> {
    let mut infos = Vec::with_capacity(planned.len());
    let mut offset = 0usize;
    for t in planned {
        let n = t.src.elements * 4;
        infos.push((
            t.name.clone(),
            TensorInfo {
                dtype: Dtype::F32,
                shape: t.shape.clone(),
                data_offsets: (offset, offset + n),
            },
        ));
        offset += n;
    }
    // One metadata entry only: a HashMap with more would serialise in random order.
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    let metadata = Metadata::new(Some(metadata), infos).map_err(io::Error::other)?;
    let mut header = serde_json::to_vec(&metadata)?;
    header.resize(header.len().next_multiple_of(8), b' ');

    let file = File::create(path)?;
    let mut out = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    out.write_all(&(header.len() as u64).to_le_bytes())?;
    out.write_all(&header)?;
    for t in planned {
        match t.src.dtype {
            SrcDtype::F32 => out.write_all(t.src.data)?,
            SrcDtype::Q4_0 => write_dequantised(t.src.data, &mut out)?,
        }
    }
    let (writer, sha256, bytes) = out.finish()?;
    let file = writer.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(Written {
        bytes,
        sha256,
        parameters: planned.iter().map(|t| t.src.elements as u64).sum(),
    })
}

/// Dequantises one Q4_0 block: `value = (q - 8) * d`, where byte `j` holds weight `j` in its
/// low nibble and weight `j + 16` in its high nibble (as `deq_row` in `e5.c`).
pub fn dequantise_block(block: &[u8; Q4_BLOCK_BYTES]) -> [f32; Q4_BLOCK] {
    let d = f16::from_bits(u16::from_le_bytes([block[0], block[1]])).to_f32();
    let mut out = [0f32; Q4_BLOCK];
    for (j, &byte) in block[2..].iter().enumerate() {
        out[j] = (f32::from(byte & 0x0F) - 8.0) * d;
        out[j + 16] = (f32::from(byte >> 4) - 8.0) * d;
    }
    out
}

fn write_dequantised(data: &[u8], out: &mut impl Write) -> io::Result<()> {
    const BLOCKS_PER_CHUNK: usize = 8192; // 1 MiB of f32 per write
    let mut buf = Vec::with_capacity(BLOCKS_PER_CHUNK * Q4_BLOCK * 4);
    for chunk in data.chunks(BLOCKS_PER_CHUNK * Q4_BLOCK_BYTES) {
        buf.clear();
        for block in chunk.chunks_exact(Q4_BLOCK_BYTES) {
            let block: &[u8; Q4_BLOCK_BYTES] = block
                .try_into()
                .expect("chunks_exact yields whole blocks; this is a bug");
            for v in dequantise_block(block) {
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        out.write_all(&buf)?;
    }
    Ok(())
}

/// `config.json` for `candle_transformers::models::bert::Config` (and Hugging Face).
pub fn config_json(hyper: &Hyper, pad_token_id: u32) -> serde_json::Value {
    // Print eps the way the f32 reads (1e-12), not as its widened f64 (9.99999996e-13).
    let eps: f64 = hyper
        .eps
        .to_string()
        .parse()
        .unwrap_or(f64::from(hyper.eps));
    serde_json::json!({
        "_name_or_path": "intfloat/multilingual-e5-small",
        "architectures": ["BertModel"],
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": null,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": hyper.hidden,
        "initializer_range": 0.02,
        "intermediate_size": hyper.intermediate,
        "layer_norm_eps": eps,
        "max_position_embeddings": hyper.max_positions,
        "model_type": "bert",
        "num_attention_heads": hyper.heads,
        "num_hidden_layers": hyper.layers,
        "pad_token_id": pad_token_id,
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
        "torch_dtype": "float32",
        "type_vocab_size": hyper.type_vocab,
        "use_cache": true,
        "vocab_size": hyper.vocab,
    })
}

/// A writer that hashes and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Flushes and returns the inner writer, the hex SHA-256 and the byte count.
    pub fn finish(mut self) -> io::Result<(W, String, u64)> {
        self.inner.flush()?;
        Ok((self.inner, hex::encode(self.hasher.finalize()), self.bytes))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
