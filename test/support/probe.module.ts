// Test-only routes that exercise the foundation (guards, validation, error mapping) before the
// feature modules exist. Never part of the service.
import { Controller, Get, HttpCode, Module, Post, Query } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Min, ValidateNested } from 'class-validator';
import { DataSource } from 'typeorm';
import { InjectMeanderDataSource } from '../../src/database/database.module';
import { CurrentPrincipal, READ_ROLES, Roles } from '../../src/auth/auth.decorators';
import type { Principal } from '../../src/auth/principal';
import { rule, ValidBody } from '../../src/common/validation';
import { OrgId } from '../../src/org-scope/org-id.decorator';

class ProbeItemDto {
  @Matches(/^[a-z][a-z0-9_]*$/, rule('source_field_snake_case', 'source_field must be snake_case'))
  source_field: string;
}

export class ProbeDto {
  @IsString(rule('display_name_not_empty'))
  @Matches(/\S/, rule('display_name_not_empty', 'display_name must not be empty'))
  display_name: string;

  @IsIn(['manual', 'daily'], rule('sync_frequency_must_be_known_value', 'sync_frequency is not a known value'))
  sync_frequency: string;

  @IsOptional()
  @IsBoolean()
  enabled?: boolean;

  @IsOptional()
  @IsInt(rule('sort_order_non_negative'))
  @Min(0, rule('sort_order_non_negative', 'sort_order must be >= 0'))
  sort_order?: number;

  @IsOptional()
  @ValidateNested({ each: true })
  @Type(() => ProbeItemDto)
  items?: ProbeItemDto[];
}

@Controller('v1')
class ProbeController {
  constructor(@InjectMeanderDataSource() private readonly dataSource: DataSource) {}

  @Get('organizations/:org_id/probe')
  @Roles(...READ_ROLES)
  read(@OrgId() orgId: string, @CurrentPrincipal() principal: Principal) {
    return { org_id: orgId, role: principal.role };
  }

  @Post('organizations/:org_id/probe')
  @Roles('org_admin', 'global_admin', 'sync_service')
  @HttpCode(201)
  write(@OrgId() orgId: string, @ValidBody() body: ProbeDto) {
    return { org_id: orgId, body };
  }

  @Post('probe/sync-only')
  @Roles('sync_service')
  syncOnly() {
    return { ok: true };
  }

  @Get('probe/undeclared')
  undeclared() {
    return { reached: true };
  }

  @Get('probe/boom')
  @Roles(...READ_ROLES)
  boom() {
    throw new Error('kaboom with api_key=sk_live_SHOULD_NOT_LEAK');
  }

  /** A transaction whose connection the server drops between two statements (an outage's timing). */
  @Post('probe/connection-lost-in-transaction')
  @Roles('org_admin')
  async connectionLostInTransaction(@Query('via') via: 'manager' | 'runner') {
    await this.dataSource.transaction(async (manager) => {
      const [{ pid }] = await manager.query(`SELECT pg_backend_pid() AS pid`);
      await this.dataSource.query(`SELECT pg_terminate_backend($1)`, [pid]);
      // TypeORM releases the query runner when its connection reports the error.
      for (let waited = 0; !manager.queryRunner?.isReleased && waited < 5_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      await (via === 'runner' ? manager.queryRunner!.query(`SELECT 1`) : manager.query(`SELECT 1`));
    });
  }

  @Post('probe/bad-sql')
  @Roles('org_admin')
  async badSql() {
    await this.dataSource.query(`SELECT * FROM no_such_table WHERE secret = $1`, ['sk_live_SHOULD_NOT_LEAK']);
  }
}

@Module({ controllers: [ProbeController] })
export class ProbeModule {}
