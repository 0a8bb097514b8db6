/*
 * The analysis components the security index needs, for the dev Elasticsearch only.
 *
 * Elasticsearch's integ-test distribution ships x-pack-security but not the analysis-common
 * module, and the .security index (which holds native roles and API keys) declares an "email"
 * analyzer built from analysis-common's pieces. Without them, creating a role or an API key
 * fails with "Unknown filter type [pattern_capture]". A production cluster (ECK, or any
 * default distribution) has analysis-common; this plugin registers the same names, built on
 * the Lucene classes analysis-common itself uses (lucene-analysis-common is in the
 * distribution's lib/), so the dev server's security behaves like the real one.
 */
package org.logway.dev.analysis;

import java.util.Map;
import java.util.regex.Pattern;

import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.TokenFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.email.UAX29URLEmailTokenizer;
import org.apache.lucene.analysis.pattern.PatternCaptureGroupTokenFilter;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.analysis.tokenattributes.PositionIncrementAttribute;
import org.elasticsearch.index.analysis.AbstractTokenFilterFactory;
import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.index.analysis.TokenizerFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;

public final class LogwayDevAnalysisPlugin extends Plugin implements AnalysisPlugin {

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        return Map.of(
            "pattern_capture", AnalysisPlugin.requiresAnalysisSettings(
                (index, env, name, settings) -> {
                    boolean preserve = settings.getAsBoolean("preserve_original", true);
                    Pattern[] patterns = settings.getAsList("patterns").stream()
                        .map(Pattern::compile).toArray(Pattern[]::new);
                    if (patterns.length == 0) {
                        throw new IllegalArgumentException("pattern_capture needs [patterns]");
                    }
                    return new AbstractTokenFilterFactory(name) {
                        @Override
                        public TokenStream create(TokenStream input) {
                            return new PatternCaptureGroupTokenFilter(input, preserve, patterns);
                        }
                    };
                }),
            "unique", (index, env, name, settings) -> {
                boolean samePosition = settings.getAsBoolean("only_on_same_position", false);
                return new AbstractTokenFilterFactory(name) {
                    @Override
                    public TokenStream create(TokenStream input) {
                        return new UniqueFilter(input, samePosition);
                    }
                };
            });
    }

    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        return Map.of(
            "uax_url_email", (index, env, name, settings) -> {
                int maxTokenLength = settings.getAsInt("max_token_length", 255);
                return TokenizerFactory.newFactory(name, () -> {
                    UAX29URLEmailTokenizer tokenizer = new UAX29URLEmailTokenizer();
                    tokenizer.setMaxTokenLength(maxTokenLength);
                    return tokenizer;
                });
            });
    }

    /** Drops a term already seen in this stream (or at this position, if asked). */
    static final class UniqueFilter extends TokenFilter {
        private final CharTermAttribute term = addAttribute(CharTermAttribute.class);
        private final PositionIncrementAttribute position =
            addAttribute(PositionIncrementAttribute.class);
        private final CharArraySet seen = new CharArraySet(8, false);
        private final boolean onlyOnSamePosition;

        UniqueFilter(TokenStream input, boolean onlyOnSamePosition) {
            super(input);
            this.onlyOnSamePosition = onlyOnSamePosition;
        }

        @Override
        public boolean incrementToken() throws java.io.IOException {
            while (input.incrementToken()) {
                if (onlyOnSamePosition && position.getPositionIncrement() > 0) {
                    seen.clear();
                }
                char[] buffer = term.buffer();
                int length = term.length();
                if (seen.contains(buffer, 0, length)) {
                    continue;
                }
                char[] copy = new char[length];
                System.arraycopy(buffer, 0, copy, 0, length);
                seen.add(copy);
                return true;
            }
            return false;
        }

        @Override
        public void reset() throws java.io.IOException {
            super.reset();
            seen.clear();
        }
    }
}
