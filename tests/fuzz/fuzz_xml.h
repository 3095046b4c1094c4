/*
 * fuzz_xml.h - libFuzzer's LLVMFuzzerInitialize for the targets that
 * parse XML: libxml2 is set up once before any input, as r2fs's main()
 * does (xml.h).  Include it in one file of a target.
 */
#ifndef R2FS_FUZZ_XML_H
#define R2FS_FUZZ_XML_H

#include "xml.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xml_global_init();
	return 0;
}

#endif
