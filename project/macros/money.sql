{#- Project macros are global, as in dbt: every model can call them. -#}

{% macro to_money(expression) -%}
    cast({{ expression }} as {{ cartwheel.type_money() }})
{%- endmacro %}
