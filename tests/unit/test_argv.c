/* argv: a command splits into the words Ofelia's tokenizer (gobs/args
 * GetArgs) gives. Expected words were checked against gobs/args itself. */
#include <string.h>

#include <criterion/criterion.h>

#include "util/argv.h"

/* expect_words splits cmd and compares with the NULL-ended words. */
static void expect_words(const char *cmd, const char *const *want)
{
	struct strv got = STRV_INIT;
	char err[128] = "";
	size_t n = 0;

	cr_assert_eq(argv_split(cmd, &got, err, sizeof err), 0, "\"%s\": %s", cmd, err);
	while (want[n])
		n++;
	cr_assert_eq(got.n, n, "\"%s\": %zu words, want %zu", cmd, got.n, n);
	for (size_t i = 0; i < n; i++)
		cr_expect_str_eq(got.v[i], want[i], "\"%s\": word %zu", cmd, i);
	strv_free(&got);
}

#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})

Test(argv, blanks_separate_words)
{
	expect_words("echo hello  world", WORDS("echo", "hello", "world"));
	expect_words("  \t a\tb\n c  ", WORDS("a", "b", "c"));
	expect_words("a\xc2\xa0"
	             "b",
	             WORDS("a", "b")); /* U+00A0 is a blank for Go */
	expect_words("", (const char *const[]){NULL});
	expect_words("   ", (const char *const[]){NULL});
}

Test(argv, quotes_group_words)
{
	expect_words("sh -c 'date | tee -a /tmp/x'", WORDS("sh", "-c", "date | tee -a /tmp/x"));
	expect_words("echo \"a b\" c", WORDS("echo", "a b", "c"));
	expect_words("echo `a b`", WORDS("echo", "a b"));
	expect_words("echo '' x", WORDS("echo", "", "x"));
}

Test(argv, quote_opens_only_a_word)
{
	/* A quote inside a word is kept; a closing quote ends the word. */
	expect_words("--name=\"a b\"", WORDS("--name=\"a", "b\""));
	expect_words("\"a\"b", WORDS("a", "b"));
	expect_words("it's", WORDS("it's"));
}

Test(argv, backslash_escapes)
{
	expect_words("a\\ b c", WORDS("a b", "c"));
	expect_words("\"a\\\"b\"", WORDS("a\"b"));
	expect_words("'a\\'b'", WORDS("a'b")); /* unlike a shell */
	expect_words("`a\\b`", WORDS("a\\b")); /* raw inside backquotes */
	expect_words("\\\"x\"", WORDS("\"x\""));
	expect_words("echo \\", WORDS("echo"));
}

Test(argv, brackets_and_symbols)
{
	expect_words("find . -exec {} +", WORDS("find", ".", "-exec", "{}", "+"));
	expect_words("echo {a b} c", WORDS("echo", "{a b}", "c"));
	expect_words("echo [a [b] c] d", WORDS("echo", "[a [b] c]", "d"));
	expect_words("echo hi > /tmp/out ", WORDS("echo", "hi", "> /tmp/out "));
	expect_words("echo #not a comment", WORDS("echo", "#not a comment"));
	expect_words("a | b", WORDS("a", "| b"));
}

Test(argv, invalid_utf8_as_go_reads_it)
{
	/* An invalid byte is U+FFFD, gobs/args' "no quote" marker: it ends an
	 * unquoted word and is dropped there, and is kept inside quotes. */
	expect_words("ab\xff"
	             "cd",
	             WORDS("ab", "cd"));
	expect_words("'a\xff'", WORDS("a\xef\xbf\xbd"));
}

Test(argv, unterminated_quote_is_an_error)
{
	struct strv got = STRV_INIT;
	char err[128] = "";
	cr_assert_eq(argv_split("echo \"abc", &got, err, sizeof err), -1);
	cr_expect(strstr(err, "unterminated \" quote") != NULL, "%s", err);
	strv_free(&got);
	cr_assert_eq(argv_split("echo 'a", &got, err, sizeof err), -1);
	strv_free(&got);
	/* a quote inside brackets is not a word's quote */
	expect_words("{a \"b}", WORDS("{a \"b}"));
}
