package milco;

import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.lucene.index.BinaryDocValues;
import org.apache.lucene.index.DocValues;
import org.apache.lucene.index.LeafReaderContext;
import org.apache.lucene.index.ReaderUtil;
import org.apache.lucene.search.FieldDoc;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.Sort;
import org.apache.lucene.util.BytesRef;

/**
 * A batch of impact queries searched in one call from Python: the queries arrive as one JSON
 * string, run on a pool of Java threads, and their hits leave as one byte array, so the per-query
 * cost of crossing between Python and Java (pyjnius calls, objects per hit) is paid once per batch.
 *
 * <p>Each query is built by Anserini's own query generator (handed in as an object and called by
 * reflection, so that this class compiles against Lucene and Jackson alone) and ranked as
 * Anserini's impact searcher ranks it: by score, ties by docid (the {@code id} field's binary doc
 * values, compared as bytes, as Lucene's string-value sort compares them). Lucene finds the k + 1
 * best by score, skipping what it can, and those are re-sorted by docid where their scores tie;
 * only when the (k + 1)-th ties with the k-th, so that documents beyond them could belong in the
 * top k, does the query run with {@code sort} over every match. Scores are then adjusted as
 * Anserini's {@code ScoreTiesAdjusterReranker} adjusts them ({@link #adjustScoreTies}).
 */
public final class ImpactBatchSearch {
  private final IndexSearcher searcher;
  private final Object generator;
  private final Method buildQuery;
  private final String field;
  private final String idField;
  private final Sort sort;
  private final ObjectMapper mapper = new ObjectMapper();
  private final JavaType queriesType;

  /** One query's hits, best first; docids as the UTF-8 bytes the index holds. */
  private record Hits(BytesRef[] docids, int[] luceneDocids, float[] scores) {}

  /**
   * @param searcher the index's searcher, with the impact similarity set
   * @param generator Anserini's {@code BagOfWordsQueryGenerator}
   * @param field the field holding the terms
   * @param sort score, then the docid as a string value (Anserini's order): its second field holds
   *     the docid as binary doc values
   */
  public ImpactBatchSearch(IndexSearcher searcher, Object generator, String field, Sort sort)
      throws NoSuchMethodException {
    this.searcher = searcher;
    this.generator = generator;
    this.buildQuery = generator.getClass().getMethod("buildQuery", String.class, Map.class);
    this.field = field;
    this.idField = sort.getSort()[1].getField();
    this.sort = sort;
    this.queriesType = mapper.getTypeFactory().constructCollectionType(
        List.class, mapper.getTypeFactory().constructMapType(Map.class, String.class, Double.class));
  }

  /**
   * The k best hits of every query.
   *
   * @param queries a JSON array of {term: weight} objects; each weight is truncated to an integer,
   *     as Pyserini's {@code JInt(weight)} truncates it
   * @param k hits per query
   * @param threads Java threads to search on
   * @return the hits, little-endian and flat ({@link #pack}): the number of queries n, the number
   *     of hits of each query (n 32-bit integers), then the hits of every query in turn, best
   *     first: their Lucene docids (32-bit integers), their scores (32-bit floats, read back
   *     exactly), and their docids (UTF-8, each followed by a line feed)
   */
  public byte[] search(String queries, int k, int threads) throws Exception {
    List<Map<String, Float>> weights = new ArrayList<>();
    for (Map<String, Double> query : mapper.<List<Map<String, Double>>>readValue(queries, queriesType)) {
      weights.add(truncated(query));
    }
    List<Hits> results = new ArrayList<>(weights.size());
    if (threads <= 1 || weights.size() <= 1) {
      for (Map<String, Float> query : weights) {
        results.add(top(query, k));
      }
    } else {
      ExecutorService pool = Executors.newFixedThreadPool(Math.min(threads, weights.size()));
      try {
        List<Callable<Hits>> tasks = new ArrayList<>(weights.size());
        for (Map<String, Float> query : weights) {
          tasks.add(() -> top(query, k));
        }
        for (Future<Hits> future : pool.invokeAll(tasks)) {
          results.add(future.get());
        }
      } finally {
        pool.shutdown();
      }
    }
    return pack(results);
  }

  /** Each weight truncated toward zero to a whole number (as Java's int cast), as a float. */
  private static Map<String, Float> truncated(Map<String, Double> query) {
    Map<String, Float> weights = new LinkedHashMap<>(2 * query.size());
    for (Map.Entry<String, Double> term : query.entrySet()) {
      weights.put(term.getKey(), (float) (long) term.getValue().doubleValue());
    }
    return weights;
  }

  /**
   * Anserini's {@code ScoreTiesAdjusterReranker} on scores sorted best first (a copy is adjusted):
   * each rounded to 4 decimals, then each within 1e-4 of the one before lowered by 1e-6 per tie in
   * a row, so that tools sorting by score alone keep the order.
   */
  public static float[] adjustScoreTies(float[] sorted) {
    float[] scores = sorted.clone();
    int ties = 0;
    for (int i = 0; i < scores.length; i++) {
      scores[i] = (float) (Math.round((double) scores[i] * 10000.0d) / 10000.0d);
      if (i == 0 || scores[i - 1] - scores[i] > 1e-4f) {
        ties = 0;
      } else {
        ties++;
        scores[i] -= 1e-6f * ties;
      }
    }
    return scores;
  }

  private Hits top(Map<String, Float> weights, int k) throws Exception {
    Query query = (Query) buildQuery.invoke(generator, field, weights);
    ScoreDoc[] best = searcher.search(query, k + 1).scoreDocs;
    if (k > 0 && best.length > k && best[k].score == best[k - 1].score) {
      ScoreDoc[] sorted = searcher.search(query, k, sort, true).scoreDocs;
      return hits(sorted, sortedDocids(sorted));
    }
    return hits(best, docids(best, Math.min(k, best.length)));
  }

  /**
   * The first {@code docids.length} hits in Anserini's order (runs of tied scores ordered by docid,
   * which leaves hits already in that order as they are), their scores adjusted as Anserini does.
   */
  private static Hits hits(ScoreDoc[] hits, BytesRef[] docids) {
    int[] luceneDocids = new int[docids.length];
    float[] scores = new float[docids.length];
    for (int i = 0; i < docids.length; i++) {
      luceneDocids[i] = hits[i].doc;
      scores[i] = hits[i].score;
    }
    orderTiesByDocid(docids, luceneDocids, scores);
    return new Hits(docids, luceneDocids, adjustScoreTies(scores));
  }

  /** The docids of hits sorted by {@code sort}: each one's second sort value. */
  private static BytesRef[] sortedDocids(ScoreDoc[] hits) {
    BytesRef[] docids = new BytesRef[hits.length];
    for (int i = 0; i < hits.length; i++) {
      docids[i] = (BytesRef) ((FieldDoc) hits[i]).fields[1];
    }
    return docids;
  }

  /** The docids of the first {@code count} hits, read from the doc values in index order. */
  private BytesRef[] docids(ScoreDoc[] hits, int count) throws IOException {
    long[] byDoc = new long[count];
    for (int i = 0; i < count; i++) {
      byDoc[i] = ((long) hits[i].doc << 32) | i;
    }
    Arrays.sort(byDoc);
    List<LeafReaderContext> leaves = searcher.getIndexReader().leaves();
    BytesRef[] docids = new BytesRef[count];
    int leaf = -1;
    BinaryDocValues ids = null;
    for (long key : byDoc) {
      int doc = (int) (key >>> 32);
      int next = ReaderUtil.subIndex(doc, leaves);
      if (next != leaf) {
        leaf = next;
        ids = DocValues.getBinary(leaves.get(leaf).reader(), idField);
      }
      if (!ids.advanceExact(doc - leaves.get(leaf).docBase)) {
        throw new IllegalStateException("document " + doc + " has no " + idField + " doc value");
      }
      docids[(int) key] = BytesRef.deepCopyOf(ids.binaryValue());
    }
    return docids;
  }

  /**
   * Hits in score order (Lucene's, ties by Lucene docid) put in Anserini's: each run of equal
   * scores re-sorted by docid, compared as UTF-8 bytes as Lucene's string-value sort compares them.
   */
  private static void orderTiesByDocid(BytesRef[] docids, int[] luceneDocids, float[] scores) {
    for (int start = 0, end; start < scores.length; start = end) {
      end = start + 1;
      while (end < scores.length && scores[end] == scores[start]) {
        end++;
      }
      if (end - start > 1) {
        Integer[] run = new Integer[end - start];
        for (int i = 0; i < run.length; i++) {
          run[i] = i;
        }
        BytesRef[] runDocids = Arrays.copyOfRange(docids, start, end);
        Arrays.sort(run, Comparator.comparing(i -> runDocids[i]));
        int[] runLuceneDocids = Arrays.copyOfRange(luceneDocids, start, end);
        for (int i = 0; i < run.length; i++) {
          docids[start + i] = runDocids[run[i]];
          luceneDocids[start + i] = runLuceneDocids[run[i]];
        }
      }
    }
  }

  /** The hits of a batch as {@link #search} returns them. */
  private static byte[] pack(List<Hits> results) {
    int total = 0;
    int docidBytes = 0;
    for (Hits hits : results) {
      total += hits.docids().length;
      for (BytesRef docid : hits.docids()) {
        docidBytes += docid.length + 1;
      }
    }
    ByteBuffer packed = ByteBuffer.allocate(4 + 4 * results.size() + 8 * total + docidBytes)
        .order(ByteOrder.LITTLE_ENDIAN);
    packed.putInt(results.size());
    for (Hits hits : results) {
      packed.putInt(hits.docids().length);
    }
    for (Hits hits : results) {
      for (int luceneDocid : hits.luceneDocids()) {
        packed.putInt(luceneDocid);
      }
    }
    for (Hits hits : results) {
      for (float score : hits.scores()) {
        packed.putFloat(score);
      }
    }
    for (Hits hits : results) {
      for (BytesRef docid : hits.docids()) {
        packed.put(docid.bytes, docid.offset, docid.length).put((byte) '\n');
      }
    }
    return packed.array();
  }
}
