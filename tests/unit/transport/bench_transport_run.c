/* bench_transport_run.c — standalone entry point for the transport benchmark (transport_bench). */
int bench_transport_main(int argc, char **argv);

int main(int argc, char **argv)
{
    return bench_transport_main(argc, argv);
}
