package milco;

import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.lucene.search.FieldDoc;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.Sort;
import org.apache.lucene.search.SortRescorer;
import org.apache.lucene.util.BytesRef;

/**
 * A batch of impact queries searched in one call from Python: the queries arrive as one JSON
 * string, run on a pool of Java threads, and their hits leave as one JSON string, so the per-query
 * cost of crossing between Python and Java (pyjnius calls, objects per hit) is paid once per batch.
 *
 * <p>Each query is built by Anserini's own query generator (handed in as an object and called by
 * reflection, so that this class compiles against Lucene and Jackson alone) and ranked as
 * Anserini's impact searcher ranks it: by score, ties by docid. Lucene finds the k + 1 best by
 * score, skipping what it can; those are re-sorted by {@code sort}; only when the (k + 1)-th ties
 * with the k-th does the query run with {@code sort} over every match.
 */
public final class ImpactBatchSearch {
  private final IndexSearcher searcher;
  private final Object generator;
  private final Method buildQuery;
  private final String field;
  private final Sort sort;
  private final SortRescorer rescorer;
  private final ObjectMapper mapper = new ObjectMapper();
  private final JavaType queriesType;

  /**
   * @param searcher the index's searcher, with the impact similarity set
   * @param generator Anserini's {@code BagOfWordsQueryGenerator}
   * @param field the field holding the terms
   * @param sort score, then the docid as a string value (Anserini's order)
   */
  public ImpactBatchSearch(IndexSearcher searcher, Object generator, String field, Sort sort)
      throws NoSuchMethodException {
    this.searcher = searcher;
    this.generator = generator;
    this.buildQuery = generator.getClass().getMethod("buildQuery", String.class, Map.class);
    this.field = field;
    this.sort = sort;
    this.rescorer = new SortRescorer(sort);
    this.queriesType = mapper.getTypeFactory().constructCollectionType(
        List.class, mapper.getTypeFactory().constructMapType(Map.class, String.class, Float.class));
  }

  /**
   * The k best hits of every query.
   *
   * @param queries a JSON array of {term: weight} objects
   * @param k hits per query
   * @param threads Java threads to search on
   * @return a JSON array, one per query in input order, of [docids, Lucene docids, scores]: three
   *     arrays, best hit first
   */
  public String search(String queries, int k, int threads) throws Exception {
    List<Map<String, Float>> weights = mapper.readValue(queries, queriesType);
    List<Object[]> results = new ArrayList<>(weights.size());
    if (threads <= 1 || weights.size() <= 1) {
      for (Map<String, Float> query : weights) {
        results.add(top(query, k));
      }
    } else {
      ExecutorService pool = Executors.newFixedThreadPool(Math.min(threads, weights.size()));
      try {
        List<Callable<Object[]>> tasks = new ArrayList<>(weights.size());
        for (Map<String, Float> query : weights) {
          tasks.add(() -> top(query, k));
        }
        for (Future<Object[]> future : pool.invokeAll(tasks)) {
          results.add(future.get());
        }
      } finally {
        pool.shutdown();
      }
    }
    return mapper.writeValueAsString(results);
  }

  private Object[] top(Map<String, Float> weights, int k) throws Exception {
    Query query = (Query) buildQuery.invoke(generator, field, weights);
    ScoreDoc[] hits = rescorer.rescore(searcher, searcher.search(query, k + 1), k + 1).scoreDocs;
    if (k > 0 && hits.length > k && hits[k].score == hits[k - 1].score) {
      hits = searcher.search(query, k, sort, true).scoreDocs;
    }
    int count = Math.min(k, hits.length);
    String[] docids = new String[count];
    int[] luceneDocids = new int[count];
    float[] scores = new float[count];
    for (int i = 0; i < count; i++) {
      FieldDoc hit = (FieldDoc) hits[i];
      docids[i] = ((BytesRef) hit.fields[1]).utf8ToString();
      luceneDocids[i] = hit.doc;
      scores[i] = hit.score;
    }
    return new Object[] {docids, luceneDocids, scores};
  }
}
